// Package benchmarks holds side-by-side benchmark suites of pocket against the tools its
// users would otherwise pick: hashicorp/yamux, xtaci/smux and raw TCP for the transport,
// grpc-go, lesismal/arpc and net/http + protobuf for RPC.
//
// The code lives in sub-packages:
//
//   - transport: the registry of transports and the bulk / request-response / mixed loads
//   - rpc: the registry of RPC frameworks and the unary echo load
//   - kv: the entry-task suite: the etserver binary on a fresh store and its clients
//   - harness: the closed-loop runner, HDR latency summaries, CPU and allocation
//     snapshots, CSV and JSON results
//   - cmd/rpcbench: server and client in separate, CPU-pinned processes
//   - cmd/charts: SVG charts and the markdown summary of the results
//
// The same suites run as plain `go test -bench` functions in the transport and rpc
// packages. See README.md for the methodology, the commands and the figures.
package benchmarks
