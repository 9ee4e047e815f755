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

// TestAliasThreshold runs large and small calls with AliasThreshold on the server and
// WithAliasThreshold on the client, from several callers, and keeps every request the
// handler saw and every response the callers got: if a message that a decoded request or
// response refers to went back to nap's buffer pool, a later message would overwrite it.
func TestAliasThreshold(t *testing.T) {
	const threshold = 64 << 10
	var mu sync.Mutex
	var kept [][]byte // request blobs, as the handler decoded them
	impl := &echoImpl{onSay: func(_ context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
		mu.Lock()
		kept = append(kept, in.Blob)
		mu.Unlock()
		return &echo.SayResponse{Text: in.Text, Blob: in.Blob}, nil
	}}
	ts := startServer(t, impl, dora.AliasThreshold(threshold))
	ec := echo.NewEchoClient(newTestClient(t, ts.addr, dora.WithAliasThreshold(threshold)))
	sizes := []int{0, 1 << 10, threshold - 1, threshold, 256 << 10, 1 << 20}
	const callers = 4
	got := make([][][]byte, callers)
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, size := range sizes {
				fill := byte(16*g + i + 1)
				resp, err := ec.Say(context.Background(), &echo.SayRequest{Text: "t", Blob: bytes.Repeat([]byte{fill}, size)})
				if err != nil {
					errs <- err
					return
				}
				if len(resp.Blob) != size || resp.Text != "t" {
					errs <- fmt.Errorf("caller %d: %d bytes and text %q back, want %d and t", g, len(resp.Blob), resp.Text, size)
					return
				}
				got[g] = append(got[g], resp.Blob)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	check := func(what string, b []byte) {
		t.Helper()
		if len(b) > 0 && !bytes.Equal(b, bytes.Repeat(b[:1], len(b))) {
			t.Fatalf("%s of %d bytes was overwritten after it was decoded", what, len(b))
		}
	}
	for g := range got {
		for i, b := range got[g] {
			check("response", b)
			if len(b) > 0 && b[0] != byte(16*g+i+1) {
				t.Fatalf("caller %d call %d: response filled with %d, want %d", g, i, b[0], 16*g+i+1)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(kept) != callers*len(sizes) {
		t.Fatalf("handler saw %d requests, want %d", len(kept), callers*len(sizes))
	}
	for _, b := range kept {
		check("request", b)
	}
}
