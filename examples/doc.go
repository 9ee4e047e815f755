// Package examples holds runnable examples: echo client and server, and resumable file download and upload.
//
// This module is under construction; see README.md for its status.
package examples
