package dora_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
)

// TestLargeDataStaysIntact: the data of a request a handler keeps, and of a response the
// caller keeps, is its own memory, not a buffer that serves later messages. Large blobs
// are encoded into pooled buffers, or sent from the caller's and the handler's memory
// (SendInPlace), and received into pooled buffers that go back to the pool once decoded; calls of many
// sizes around the thresholds (64 KiB frames and split fields, pool size classes)
// follow each other on one connection, the caller refills its one request buffer for
// every call as soon as the call returns, and every kept request and response must still
// hold its own fill at the end.
func TestLargeDataStaysIntact(t *testing.T) {
	for _, inPlace := range []bool{false, true} {
		t.Run(fmt.Sprintf("SendInPlace=%v", inPlace), func(t *testing.T) { testLargeDataStaysIntact(t, inPlace) })
	}
}

func testLargeDataStaysIntact(t *testing.T, inPlace bool) {
	var mu sync.Mutex
	var keptReqs [][]byte
	var keptResps [][]byte // what the handler returned, kept after the answer went out
	impl := &echoImpl{onSay: func(_ context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
		out := bytes.Clone(in.Blob)
		for i := range out {
			out[i] ^= 0xff // the answer differs from the request
		}
		mu.Lock()
		keptReqs = append(keptReqs, in.Blob)
		keptResps = append(keptResps, out)
		mu.Unlock()
		return &echo.SayResponse{Text: in.Text, Blob: out}, nil
	}}
	ts := startServer(t, impl, dora.SendInPlace(inPlace))
	ec := echo.NewEchoClient(newTestClient(t, ts.addr, dora.SendInPlace(inPlace)))
	ctx := context.Background()
	sizes := []int{1000, 64<<10 - 100, 64 << 10, 64<<10 + 100, 200 << 10, 256 << 10, 1 << 20, 3 << 20}
	blob := make([]byte, 3<<20) // one request buffer, refilled for every call
	var got []*echo.SayResponse
	var fills []byte
	for round := 0; round < 3; round++ {
		for i, size := range sizes {
			fill := byte(round*len(sizes) + i + 1)
			req := &echo.SayRequest{Text: fmt.Sprint(fill), Blob: blob[:size]}
			for j := range req.Blob {
				req.Blob[j] = fill
			}
			resp, err := ec.Say(ctx, req)
			if err != nil {
				t.Fatalf("size %d: %v", size, err)
			}
			for j := range blob { // the next call's fill, before anyone checked this one
				blob[j] = 0xee
			}
			got = append(got, resp)
			fills = append(fills, fill)
		}
	}
	check := func(what string, b []byte, size int, want byte) {
		t.Helper()
		if len(b) != size {
			t.Fatalf("%s: %d bytes, want %d", what, len(b), size)
		}
		for i, c := range b {
			if c != want {
				t.Fatalf("%s of %d bytes changed after the call: byte %d is %#x, want %#x", what, size, i, c, want)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(keptReqs) != len(got) {
		t.Fatalf("handler saw %d calls, want %d", len(keptReqs), len(got))
	}
	for k, resp := range got {
		size := sizes[k%len(sizes)]
		check(fmt.Sprintf("call %d: response", k), resp.Blob, size, ^fills[k])
		check(fmt.Sprintf("call %d: request kept by the handler", k), keptReqs[k], size, fills[k])
		check(fmt.Sprintf("call %d: response kept by the handler", k), keptResps[k], size, ^fills[k])
	}
}
