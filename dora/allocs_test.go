//go:build !race

package dora_test

import (
	"context"
	"testing"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
)

// TestEmptyCallAllocs counts the allocations of an empty unary call, client and server in
// this process (BENCHMARKS.md lists each one): with the plain defaults 8 (client: the
// nap stream and the response; server: the nap stream, the call, the handler's context
// (2), the request and the response), and 6 with LazyCallContext for a handler that never
// looks at its context; the same with LeaseReply as the call's one option. A go statement
// with arguments per call, or a closure for the balancer's one server, would show here.
// Not under -race, which allocates for itself.
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
			var lease dora.Lease
			for _, opts := range [][]dora.CallOption{nil, {dora.LeaseReply(&lease)}} {
				call := func() {
					if _, err := ec.Say(ctx, req, opts...); err != nil {
						t.Fatal(err)
					}
				}
				call() // dial outside the count
				if n := testing.AllocsPerRun(500, call); n > tc.max {
					t.Fatalf("%v allocations per empty call (client + server) with %d call options, want at most %v", n, len(opts), tc.max)
				}
			}
		})
	}
}
