// Package examples is the root of the runnable examples built on iip:
// cmd/echo_server and cmd/echo_client, cmd/file_server and cmd/file_client
// (download with resume), cmd/upload_server and cmd/upload_client (upload
// with resume). The reusable logic lives in the packages filetransfer,
// echo, serving, tlsfiles, cliflags and progress; README.md shows how to
// run each command and what each flag does.
package examples
