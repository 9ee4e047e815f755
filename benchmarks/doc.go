// Package benchmarks holds side-by-side benchmark suites of pocket against net/http, grpc-go, arpc, yamux, smux and raw TCP.
//
// This module is under construction; see README.md for its status.
package benchmarks
