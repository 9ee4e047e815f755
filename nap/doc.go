// Package nap is a framed, multiplexed message transport over TCP and TLS: many concurrent streams on one connection, with flow control, keepalive and graceful shutdown (GOAWAY).
//
// This module is under construction; see README.md for its status.
package nap
