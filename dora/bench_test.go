package dora_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/seed857a6cbd/pocket/dora/examples/echo"
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
				req := &echo.SayRequest{Blob: make([]byte, size)}
				b.SetBytes(int64(size))
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
