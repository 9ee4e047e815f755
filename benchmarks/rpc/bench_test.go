package rpc_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
	"github.com/seed857a6cbd/pocket/benchmarks/rpc"
)

var (
	payloads = []int{64, 1024, 16384}
	callers  = []int{1, 16, 100, 1000}
)

// BenchmarkRPCEcho is unary echo with 64 B, 1 KiB and 16 KiB payloads at 1, 16, 100 and
// 1000 concurrent callers of one client, server in the same process.
func BenchmarkRPCEcho(b *testing.B) {
	for _, name := range rpc.Names() {
		for _, size := range payloads {
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
