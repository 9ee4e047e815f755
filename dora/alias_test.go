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

// uniform reports whether b is fill repeated.
func uniform(b []byte, fill byte) bool {
	for _, c := range b {
		if c != fill {
			return false
		}
	}
	return true
}

// TestAliasRequestsLeaseReply runs calls of sizes around AliasMinBytes from several callers
// at once with AliasRequests on the server and LeaseReply on every call. Each caller's
// calls have their own fill byte: the handler checks the request it decoded (and rewrites
// nothing), the caller checks the response before it releases the lease. A buffer given
// back to nap's pool while a request or response still referred to it would show as
// another call's bytes. The lease holds a buffer exactly when the response's field was
// large enough.
func TestAliasRequestsLeaseReply(t *testing.T) {
	for _, inPlace := range []bool{false, true} {
		t.Run(fmt.Sprintf("SendInPlace=%v", inPlace), func(t *testing.T) {
			impl := &echoImpl{onSay: func(_ context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
				if len(in.Text) != 1 || !uniform(in.Blob, in.Text[0]) {
					return nil, fmt.Errorf("request of %d bytes does not hold %q only", len(in.Blob), in.Text)
				}
				return &echo.SayResponse{Text: in.Text, Blob: in.Blob}, nil
			}}
			ts := startServer(t, impl, dora.AliasRequests(true), dora.SendInPlace(inPlace))
			ec := echo.NewEchoClient(newTestClient(t, ts.addr, dora.SendInPlace(inPlace)))
			sizes := []int{0, 1 << 10, dora.AliasMinBytes - 1, dora.AliasMinBytes, 256 << 10, 1 << 20}
			const callers, rounds = 4, 3
			errs := make(chan error, callers)
			var wg sync.WaitGroup
			for g := range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var lease dora.Lease
					for r := range rounds {
						for i, size := range sizes {
							fill := byte('A' + (g*len(sizes)+i+r)%26)
							resp, err := ec.Say(context.Background(), &echo.SayRequest{Text: string(fill), Blob: bytes.Repeat([]byte{fill}, size)},
								dora.LeaseReply(&lease))
							if err != nil {
								errs <- fmt.Errorf("caller %d, %d bytes: %w", g, size, err)
								return
							}
							if len(resp.Blob) != size || resp.Text != string(fill) || !uniform(resp.Blob, fill) {
								errs <- fmt.Errorf("caller %d: response of %d bytes (%q) is not %d of %q", g, len(resp.Blob), resp.Text, size, fill)
								return
							}
							if want := size >= dora.AliasMinBytes; lease.Holds() != want {
								errs <- fmt.Errorf("caller %d, %d bytes: lease holds a buffer: %v, want %v", g, size, lease.Holds(), want)
								return
							}
							lease.Release()
							lease.Release() // a second Release does nothing
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
		})
	}
}

// TestLeaseReplyCopies: a response that is compressed, or decoded by another codec than
// proto, is a copy and the lease holds nothing; a server without AliasRequests and a lease
// given twice without a Release in between work as without them.
func TestLeaseReplyCopies(t *testing.T) {
	ts := startServer(t, nil, dora.WithCompressionThreshold(1))
	ec := echo.NewEchoClient(newTestClient(t, ts.addr))
	blob := bytes.Repeat([]byte{'z'}, 2*dora.AliasMinBytes)
	var lease dora.Lease
	for _, tc := range []struct {
		name  string
		opts  []dora.CallOption
		holds bool
	}{
		{"plain", nil, true},
		{"again without Release", nil, true},
		{"gzip", []dora.CallOption{dora.UseCompressor(dora.Gzip)}, false},
		{"json", []dora.CallOption{dora.Codec("json")}, false},
	} {
		resp, err := ec.Say(context.Background(), &echo.SayRequest{Blob: blob}, append(tc.opts, dora.LeaseReply(&lease))...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !bytes.Equal(resp.Blob, blob) {
			t.Fatalf("%s: response of %d bytes differs from the request", tc.name, len(resp.Blob))
		}
		if lease.Holds() != tc.holds {
			t.Fatalf("%s: lease holds a buffer: %v, want %v", tc.name, lease.Holds(), tc.holds)
		}
	}
	lease.Release()
	if _, err := ec.Say(context.Background(), &echo.SayRequest{Blob: blob}, dora.LeaseReply(nil)); err != nil {
		t.Fatalf("nil lease: %v", err)
	}
}
