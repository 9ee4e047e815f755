package dora_test

import (
	"bytes"
	"context"
	"runtime"
	"testing"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
)

// TestLargeCallBytesAllocated measures the bytes allocated per 256 KiB echo call (client
// and server in this process, one caller): decoding copies the payload into new memory
// on each side (two payloads per call), while with AliasRequests on the server, LeaseReply
// released after each call and SendInPlace on both sides, every buffer comes back from
// nap's pool and a call allocates a small fraction of one payload (under -race, where
// sync.Pool drops some of what is put back, at most 1.5).
func TestLargeCallBytesAllocated(t *testing.T) {
	const size = 256 << 10
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
	warm, calls := 20, 200
	if raceEnabled { // slower, and sync.Pool drops some of what it is given
		cases[0].max, cases[1].max = 6, 1.5
		warm, calls = 5, 40
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
			for range warm { // dial, fill the pools
				call()
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range calls {
				call()
			}
			runtime.ReadMemStats(&after)
			per := float64(after.TotalAlloc-before.TotalAlloc) / float64(calls) / size
			t.Logf("%.3f payloads allocated per call", per)
			if per < tc.min || per > tc.max {
				t.Fatalf("%.3f payloads of %d bytes allocated per call, want %.2f to %.2f", per, size, tc.min, tc.max)
			}
		})
	}
}
