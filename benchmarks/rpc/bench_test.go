package rpc_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
	"github.com/seed857a6cbd/pocket/benchmarks/rpc"
)

var (
	payloads = []int{64, 1024, 16384}
	callers  = []int{1, 16, 100, 1000}
)

// iipPayload is the echo payload of the IIP suite, the one of the iip module's benchmarks.
const iipPayload = 14410

// BenchmarkRPCEcho is unary echo with 64 B, 1 KiB and 16 KiB payloads at 1, 16, 100 and
// 1000 concurrent callers of one client, server in the same process, for every framework
// of the RPC suite (the iip entries are the IIP suite's, BenchmarkIIPEcho).
func BenchmarkRPCEcho(b *testing.B) {
	for _, name := range rpc.Names() {
		if strings.HasPrefix(name, "iip") {
			continue
		}
		benchEcho(b, name, payloads)
	}
}

// BenchmarkIIPEcho is the IIP suite: iip, iip-pool and iip-balanced against nethttp with
// the 14,410-byte payload, at 1, 16, 100 and 1000 callers.
func BenchmarkIIPEcho(b *testing.B) {
	for _, name := range []string{"iip", "iip-pool", "iip-balanced", "nethttp"} {
		benchEcho(b, name, []int{iipPayload})
	}
}

func benchEcho(b *testing.B, name string, sizes []int) {
	{
		for _, size := range sizes {
			for _, n := range callers {
				b.Run(fmt.Sprintf("%s/size=%d/callers=%d", name, size, n), func(b *testing.B) {
					f, err := rpc.Lookup(name)
					if err != nil {
						b.Fatal(err)
					}
					c := start(b, f, n)
					newWorker := rpc.NewWorker(c, size)
					calls := make([]harness.Call, n)
					for i := range calls {
						w, err := newWorker(i)
						if err != nil {
							b.Fatal(err)
						}
						calls[i] = w.Call
					}
					b.SetBytes(int64(size))
					b.ReportAllocs()
					fixed := harness.NewFixed(calls)
					b.ResetTimer()
					err = fixed.RunN(b.N)
					b.StopTimer()
					if err != nil {
						b.Fatal(err)
					}
					sum := fixed.Summary()
					b.ReportMetric(float64(sum.P50)/float64(time.Microsecond), "p50-µs")
					b.ReportMetric(float64(sum.P99)/float64(time.Microsecond), "p99-µs")
				})
			}
		}
	}
}
