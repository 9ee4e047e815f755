// Package etclient holds etclient, the command-line client and load generator for etserver.
//
// The program is cmd/etclient; its parts live in internal packages: internal/cli (the
// command line), internal/bench (the benchmark engine and report) and internal/kvclient (the
// Client interface to etserver and its status codes). See README.md for every command.
package etclient
