//go:build !race

package dora_test

import (
	"bytes"
	"context"
	"runtime"
	"testing"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
)

// TestEmptyCallAllocs counts the allocations of an empty unary call, client and server in
// this process (BENCHMARKS.md lists each one): with the plain defaults 8 (client: the
// nap stream and the response; server: the nap stream, the call, the handler's context
// (2), the request and the response), and 6 with LazyCallContext for a handler that never
// looks at its context. A go statement with arguments per call, or a closure for the
// balancer's one server, would show here. Not under -race, which allocates for itself.
func TestEmptyCallAllocs(t *testing.T) {
	cases := []struct {
		name string
		opts []dora.ServerOption
		max  float64
	}{
		{"defaults", nil, 8},
		{"LazyCallContext", []dora.ServerOption{dora.LazyCallContext(true)}, 6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, nil, tc.opts...)
			ec := echo.NewEchoClient(newTestClient(t, ts.addr))
			ctx := context.Background() // no deadline: a deadline costs a timer on each side
			req := &echo.SayRequest{}
			call := func() {
				if _, err := ec.Say(ctx, req); err != nil {
					t.Fatal(err)
				}
			}
			call() // dial outside the count
			if n := testing.AllocsPerRun(500, call); n > tc.max {
				t.Fatalf("%v allocations per empty call (client + server), want at most %v", n, tc.max)
			}
		})
	}
}

// TestLargeCallBytesAllocated measures the bytes allocated per 1 MiB echo call (client
// and server in this process, one caller): decoding copies the payload into new memory
// on each side (two payloads per call), while with AliasRequests on the server, LeaseReply
// released after each call and SendInPlace on both sides, every buffer comes back from
// nap's pool and a call allocates a small fraction of one payload.
func TestLargeCallBytesAllocated(t *testing.T) {
	const size = 1 << 20
	cases := []struct {
		name     string
		srv      []dora.ServerOption
		cli      []dora.ClientOption
		lease    bool
		min, max float64 // bytes per call, in payloads
	}{
		{"copies", nil, nil, false, 1.9, 3},
		{"in place", []dora.ServerOption{dora.AliasRequests(true), dora.SendInPlace(true)},
			[]dora.ClientOption{dora.SendInPlace(true)}, true, 0, 0.25},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, nil, tc.srv...)
			ec := echo.NewEchoClient(newTestClient(t, ts.addr, tc.cli...))
			req := &echo.SayRequest{Blob: bytes.Repeat([]byte{'x'}, size)}
			var lease dora.Lease
			call := func() {
				var opts []dora.CallOption
				if tc.lease {
					opts = append(opts, dora.LeaseReply(&lease))
				}
				resp, err := ec.Say(context.Background(), req, opts...)
				if err != nil {
					t.Fatal(err)
				}
				if len(resp.Blob) != size {
					t.Fatalf("%d bytes back, want %d", len(resp.Blob), size)
				}
				lease.Release()
			}
			for range 20 { // dial, fill the pools
				call()
			}
			const calls = 200
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range calls {
				call()
			}
			runtime.ReadMemStats(&after)
			per := float64(after.TotalAlloc-before.TotalAlloc) / calls / size
			t.Logf("%.3f payloads allocated per call", per)
			if per < tc.min || per > tc.max {
				t.Fatalf("%.3f payloads of %d bytes allocated per call, want %.2f to %.2f", per, size, tc.min, tc.max)
			}
		})
	}
}
