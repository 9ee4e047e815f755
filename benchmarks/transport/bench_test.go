package transport_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
	"github.com/seed857a6cbd/pocket/benchmarks/transport"
)

// The request/response payload and the concurrency levels of the suite.
const rrPayload = 1024

var streamCounts = []int{1, 16, 100, 1000}

// runLoad runs b.N calls of the mode over n workers of one session and reports the
// latency percentiles.
func runLoad(b *testing.B, name, mode string, payload, n int) {
	tr, err := transport.Lookup(name)
	if err != nil {
		b.Fatal(err)
	}
	sess := start(b, tr)
	l, err := transport.NewLoad(sess, mode, payload)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := l.Stop(); err != nil {
			b.Error(err)
		}
	}()
	calls := make([]harness.Call, n)
	for i := range calls {
		w, err := l.NewWorker(i)
		if err != nil {
			b.Fatal(err)
		}
		calls[i] = w.Call
		if w.Close != nil {
			defer w.Close()
		}
	}
	b.SetBytes(int64(l.MessageBytes()))
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
}

// BenchmarkTransportBulk is one stream sending 64 KiB messages one way (MB/s).
func BenchmarkTransportBulk(b *testing.B) {
	for _, name := range transport.Names() {
		b.Run(name, func(b *testing.B) { runLoad(b, name, transport.ModeBulk, 0, 1) })
	}
}

// BenchmarkTransportRR is 1 KiB request/response at 1, 16, 100 and 1000 concurrent
// streams of one connection.
func BenchmarkTransportRR(b *testing.B) {
	for _, name := range transport.Names() {
		for _, n := range streamCounts {
			b.Run(fmt.Sprintf("%s/streams=%d", name, n), func(b *testing.B) {
				runLoad(b, name, transport.ModeRR, rrPayload, n)
			})
		}
	}
}

// BenchmarkTransportMixed is 64-byte calls on one stream while another stream of the same
// connection sends 64 KiB messages without pause; p99-µs is the figure to read.
func BenchmarkTransportMixed(b *testing.B) {
	for _, name := range transport.Names() {
		b.Run(name, func(b *testing.B) { runLoad(b, name, transport.ModeMixed, 64, 1) })
	}
}
