// Command rpcbench runs the benchmark suites with the server and the client in separate
// processes, the way kitex-benchmark does. It first builds itself once per framework as
// that framework's node (go build -tags rpcbench_node,rpcbench_<framework>: a binary that
// links that framework alone, so that no other framework's package inits weigh on its
// heap and GC; see node.go), then starts the node as `rpcbench server` pinned to CPU 0
// and, for every cell of the matrix, as `rpcbench client` pinned to CPU 1 (with taskset,
// when it is installed and the machine has two CPUs). It needs the go command and this
// module's source, as `go run ./cmd/rpcbench` has them. Each client warms up,
// then runs closed-loop workers for a fixed window and reports throughput, p50/p99/p99.9
// latency, allocations per call and CPU use; the server reports its own allocations and
// CPU use over the same window. Results go to <out>/<suite>.json and <out>/<suite>.csv.
//
// Usage:
//
//	rpcbench [--short] [--suites rpc,transport,iip] [--frameworks grpc,arpc] [--payloads 64,1024]
//	         [--iip-frameworks iip,nethttp] [--iip-payload 14410]
//	         [--concurrency 1,16,100,1000] [--warmup 2s] [--duration 10s] [--out results]
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	app := &cli.App{
		Name:  "rpcbench",
		Usage: "side-by-side benchmarks of pocket and its peers, server and client in separate processes",
		Flags: runFlags(),
		Action: func(c *cli.Context) error {
			cfg, err := configFrom(c)
			if err != nil {
				return err
			}
			return run(cfg, os.Stdout)
		},
		Commands: []*cli.Command{serverCommand(), clientCommand(), frameworksCommand()},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
