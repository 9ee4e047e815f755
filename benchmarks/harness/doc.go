// Package harness is the measuring side of the benchmarks: a closed-loop load runner with
// a warm-up phase and a fixed measured window, latency summaries from HDR histograms,
// process CPU and allocation snapshots, and the Result rows written as CSV and JSON.
//
// It knows nothing about the frameworks under test; the transport and rpc packages turn
// each registered implementation into per-worker call functions that this package drives.
package harness
