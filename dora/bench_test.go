package dora_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/nap"
)

// BenchmarkUnaryEcho measures a unary echo call over loopback TCP, client and server in
// this process: ns/op is per call across all callers, allocs/op counts both sides.
func BenchmarkUnaryEcho(b *testing.B) {
	ts := startServer(b, nil)
	c := newTestClient(b, ts.addr)
	ec := echo.NewEchoClient(c)
	ctx := context.Background()
	if _, err := ec.Say(ctx, &echo.SayRequest{}); err != nil { // dial outside the timing
		b.Fatal(err)
	}
	for _, size := range []int{64, 1 << 10, 16 << 10} {
		for _, callers := range []int{1, 16, 100, 1000} {
			b.Run(fmt.Sprintf("size=%d/callers=%d", size, callers), func(b *testing.B) {
				runEcho(b, ec, size, callers)
			})
		}
	}
}

// runEcho makes b.N echo calls of size bytes through ec from callers goroutines.
func runEcho(b *testing.B, ec echo.EchoClient, size, callers int) {
	runEchoLatency(b, ec, size, callers, false, false)
}

// runEchoLatency is runEcho; with latency set it also times every call and reports the
// median, 99th percentile and maximum (p50-us, p99-us, max-us): the large cells' tail
// (issue #17). The times go into a slice made before the timer starts, so allocs/op is
// unchanged; timing costs two clock reads per call. With lease set every call decodes
// its response under LeaseReply and releases it once checked.
func runEchoLatency(b *testing.B, ec echo.EchoClient, size, callers int, latency, lease bool) {
	ctx := context.Background()
	req := &echo.SayRequest{Blob: make([]byte, size)}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var lat []time.Duration
	if latency {
		lat = make([]time.Duration, b.N)
	}
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	cpu0 := processCPU(b)
	b.ResetTimer()
	for g := 0; g < callers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var l dora.Lease
			var opts []dora.CallOption
			if lease {
				opts = []dora.CallOption{dora.LeaseReply(&l)}
			}
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				var t0 time.Time
				if latency {
					t0 = time.Now()
				}
				resp, err := ec.Say(ctx, req, opts...)
				if latency {
					lat[i-1] = time.Since(t0)
				}
				if err != nil {
					failed.Store(err)
					return
				}
				if len(resp.Blob) != size {
					failed.Store(fmt.Errorf("got %d bytes, want %d", len(resp.Blob), size))
					return
				}
				l.Release()
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	// CPU time of the process (both sides, user + system) per call: steadier than ns/op
	// on a box shared with other work.
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	if latency {
		slices.Sort(lat)
		at := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) }
		b.ReportMetric(at(0.5), "p50-us")
		b.ReportMetric(at(0.99), "p99-us")
		b.ReportMetric(at(1), "max-us")
	}
}

// BenchmarkServerOptions is BenchmarkUnaryEcho's 1 KiB call with the server's
// performance options (IdleCallWorkers, LazyCallContext) off and on: compare the
// sub-benchmarks of one run for what each option buys.
func BenchmarkServerOptions(b *testing.B) {
	const size = 1 << 10
	cases := []struct {
		name string
		opts []dora.ServerOption
	}{
		{"default", nil},
		{"IdleCallWorkers=256", []dora.ServerOption{dora.IdleCallWorkers(256)}},
		{"LazyCallContext", []dora.ServerOption{dora.LazyCallContext(true)}},
		{"both", []dora.ServerOption{dora.IdleCallWorkers(256), dora.LazyCallContext(true)}},
	}
	for _, callers := range []int{1, 100} {
		for _, tc := range cases {
			b.Run(fmt.Sprintf("%s/callers=%d", tc.name, callers), func(b *testing.B) {
				ts := startServer(b, nil, tc.opts...)
				c := newTestClient(b, ts.addr)
				ec := echo.NewEchoClient(c)
				if _, err := ec.Say(context.Background(), &echo.SayRequest{}); err != nil { // dial outside the timing
					b.Fatal(err)
				}
				runEcho(b, ec, size, callers)
			})
		}
	}
}

// BenchmarkUnaryEchoBalanced is BenchmarkUnaryEcho's 1 KiB call through a balanced client
// over two loopback servers (lb:/// target, default least-pending picker): compare with
// BenchmarkUnaryEcho/size=1024 for the balancer's cost per call.
func BenchmarkUnaryEchoBalanced(b *testing.B) {
	const size = 1 << 10
	s0, s1 := startServer(b, nil), startServer(b, nil)
	c := newTestClient(b, "lb:///"+s0.addr+","+s1.addr)
	ec := echo.NewEchoClient(c)
	ctx := context.Background()
	for i := 0; i < 4; i++ { // dial both servers outside the timing
		if _, err := ec.Say(ctx, &echo.SayRequest{}); err != nil {
			b.Fatal(err)
		}
	}
	for _, callers := range []int{1, 16, 100} {
		b.Run(fmt.Sprintf("size=%d/callers=%d", size, callers), func(b *testing.B) {
			req := &echo.SayRequest{Blob: make([]byte, size)}
			b.SetBytes(size)
			b.ReportAllocs()
			var next atomic.Int64
			var failed atomic.Value
			var wg sync.WaitGroup
			b.ResetTimer()
			for g := 0; g < callers; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						resp, err := ec.Say(ctx, req)
						if err != nil {
							failed.Store(err)
							return
						}
						if len(resp.Blob) != size {
							failed.Store(fmt.Errorf("got %d bytes, want %d", len(resp.Blob), size))
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkUnaryCompression compares a unary echo call plain and with UseCompressor(Gzip)
// (request and response compressed), one caller, for text that compresses (JSON-like
// records) and bytes that do not (random). wire-B/op is the request plus response Pkg bytes
// per call (the client's stats), so the ratio of the gzip and plain rows is the compression
// ratio on the wire; ns/op is the CPU cost on both sides (same process).
func BenchmarkUnaryCompression(b *testing.B) {
	stats := &lastStats{}
	ts := startServer(b, nil)
	c := newTestClient(b, ts.addr, dora.WithStats(stats))
	ec := echo.NewEchoClient(c)
	ctx := context.Background()
	if _, err := ec.Say(ctx, &echo.SayRequest{}); err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{4 << 10, 64 << 10} {
		var text strings.Builder
		for i := 0; text.Len() < size; i++ {
			fmt.Fprintf(&text, `{"id":%d,"name":"user-%d","email":"user%d@example.com","active":%t},`, i, i*7919%10007, i, i%3 == 0)
		}
		random := make([]byte, size)
		rand.NewChaCha8([32]byte{1}).Read(random)
		payloads := []struct {
			name string
			req  *echo.SayRequest
		}{
			{"json", &echo.SayRequest{Text: text.String()[:size]}},
			{"random", &echo.SayRequest{Blob: random}},
		}
		for _, p := range payloads {
			for _, mode := range []string{"plain", "gzip"} {
				var opts []dora.CallOption
				if mode == "gzip" {
					opts = append(opts, dora.UseCompressor(dora.Gzip))
				}
				b.Run(fmt.Sprintf("size=%d/%s/%s", size, p.name, mode), func(b *testing.B) {
					b.SetBytes(int64(size))
					b.ReportAllocs()
					for b.Loop() {
						if _, err := ec.Say(ctx, p.req, opts...); err != nil {
							b.Fatal(err)
						}
					}
					st := stats.get()
					b.ReportMetric(float64(st.BytesIn+st.BytesOut), "wire-B/op")
				})
			}
		}
	}
}

// BenchmarkUnarySequential is one caller making one call at a time on one connection
// (issue #17: per-call latency and allocations): nop is an empty request and response.
// allocs/op counts both sides; B/op shows whether a large message costs more than one
// buffer of its size per side.
func BenchmarkUnarySequential(b *testing.B) {
	ts := startServer(b, nil)
	c := newTestClient(b, ts.addr)
	ec := echo.NewEchoClient(c)
	ctx := context.Background()
	if _, err := ec.Say(ctx, &echo.SayRequest{}); err != nil { // dial outside the timing
		b.Fatal(err)
	}
	for _, size := range []int{0, 1 << 10, 128 << 10, 1 << 20, 4<<20 - 4<<10} {
		name := fmt.Sprintf("size=%d", size)
		if size == 0 {
			name = "nop"
		}
		b.Run(name, func(b *testing.B) {
			req := &echo.SayRequest{Blob: make([]byte, size)}
			b.SetBytes(2 * int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				resp, err := ec.Say(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				if len(resp.Blob) != size {
					b.Fatalf("got %d bytes, want %d", len(resp.Blob), size)
				}
			}
		})
	}
}

// BenchmarkUnaryLargeInPlace is BenchmarkUnaryLarge's 64 KiB-frame cells with
// SendInPlace on both sides: compare with BenchmarkUnaryLarge/frame=64KiB of the same run.
func BenchmarkUnaryLargeInPlace(b *testing.B) {
	benchLargeCells(b, []dora.ServerOption{dora.SendInPlace(true)}, []dora.ClientOption{dora.SendInPlace(true)}, false, false)
}

// benchLargeCells runs the 64 KiB, 256 KiB and 1 MiB echo cells from 1 and 16 callers on
// one connection, server and client made with srv and cli (runEchoLatency's latency and
// lease as given).
func benchLargeCells(b *testing.B, srv []dora.ServerOption, cli []dora.ClientOption, latency, lease bool) {
	ts := startServer(b, nil, srv...)
	ec := echo.NewEchoClient(newTestClient(b, ts.addr, cli...))
	if _, err := ec.Say(context.Background(), &echo.SayRequest{}); err != nil { // dial outside the timing
		b.Fatal(err)
	}
	for _, size := range []int{64 << 10, 256 << 10, 1 << 20} {
		for _, callers := range []int{1, 16} {
			b.Run(fmt.Sprintf("size=%d/callers=%d", size, callers), func(b *testing.B) {
				runEchoLatency(b, ec, size, callers, latency, lease)
			})
		}
	}
}

// BenchmarkUnaryLargeEagerCredit is BenchmarkUnaryLarge's 64 KiB-frame cells with nap's
// EagerCredit on both sides (a new stream's announced first message credited at its
// first frame, the credit sent at once): compare with BenchmarkUnaryLarge in one run.
func BenchmarkUnaryLargeEagerCredit(b *testing.B) {
	cfg := dora.WithNapConfig(nap.Config{EagerCredit: true})
	benchLargeCells(b, []dora.ServerOption{cfg}, []dora.ClientOption{cfg}, false, false)
}

// BenchmarkUnaryLarge is issue #17's large cells in process: 64 KiB, 256 KiB and 1 MiB
// echo calls from 1 and 16 callers on one connection, with MaxFrameSize 64 KiB and
// 256 KiB on both sides. B/op and allocs/op count both sides; p50-us, p99-us and max-us
// are the calls' latencies (the tail of the 16-caller cells: issue #17).
func BenchmarkUnaryLarge(b *testing.B) {
	for _, frame := range []int{64 << 10, 256 << 10} {
		cfg := nap.Config{MaxFrameSize: frame}
		ts := startServer(b, nil, dora.WithNapConfig(cfg))
		ec := echo.NewEchoClient(newTestClient(b, ts.addr, dora.WithNapConfig(cfg)))
		if _, err := ec.Say(context.Background(), &echo.SayRequest{}); err != nil { // dial outside the timing
			b.Fatal(err)
		}
		for _, size := range []int{64 << 10, 256 << 10, 1 << 20} {
			for _, callers := range []int{1, 16} {
				b.Run(fmt.Sprintf("frame=%dKiB/size=%d/callers=%d", frame>>10, size, callers), func(b *testing.B) {
					runEchoLatency(b, ec, size, callers, true, false)
				})
			}
		}
	}
}

// BenchmarkUnaryLargeAlias is BenchmarkUnaryLarge's 64 KiB-frame cells with large fields
// neither copied when sent nor when received: SendInPlace on both sides, AliasRequests on
// the server, every call under LeaseReply, released once checked. Compare with
// BenchmarkUnaryLarge and BenchmarkUnaryLargeInPlace in one run.
func BenchmarkUnaryLargeAlias(b *testing.B) {
	benchLargeCells(b, []dora.ServerOption{dora.SendInPlace(true), dora.AliasRequests(true)},
		[]dora.ClientOption{dora.SendInPlace(true)}, true, true)
}
