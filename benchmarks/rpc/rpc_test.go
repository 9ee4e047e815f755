package rpc_test

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
	"github.com/seed857a6cbd/pocket/benchmarks/rpc"
)

// start serves f on a loopback port and dials a client for n callers; both close with
// the test.
func start(tb testing.TB, f rpc.Framework, n int) rpc.Client {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := f.Serve(ln)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := f.Dial(ln.Addr().String(), rpc.DialOptions{Concurrency: n})
	if err != nil {
		srv.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Errorf("client close: %v", err)
		}
		if err := srv.Close(); err != nil {
			tb.Errorf("server close: %v", err)
		}
	})
	return c
}

func TestRegistry(t *testing.T) {
	have := map[string]bool{}
	for _, n := range rpc.Names() {
		have[n] = true
	}
	for _, w := range []string{"arpc", "dora", "dora-default", "grpc", "nethttp", "rawtcp", "kitex", "kitex-pool", "kitex-mux", "rpcx"} {
		if !have[w] {
			t.Errorf("Names() = %v, missing %q", rpc.Names(), w)
		}
	}
	if _, err := rpc.Lookup("nope"); err == nil {
		t.Error("Lookup(nope) succeeded")
	}
}

// TestFrameworks makes concurrent echo calls of several sizes on every registered
// framework and checks the bytes that come back; a Lender's callers call through their
// own Borrower, as the harness's workers do.
func TestFrameworks(t *testing.T) {
	for _, name := range rpc.Names() {
		t.Run(name, func(t *testing.T) {
			f, err := rpc.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			c := start(t, f, 4)
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for i := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					echo := c.Echo
					if l, ok := c.(rpc.Lender); ok {
						echo = l.Borrower()
					}
					for _, size := range []int{0, 64, 1024, 16384, 256 << 10, rpc.MaxPayload, 256 << 10} {
						req := bytes.Repeat([]byte{byte('a' + i)}, size)
						resp, err := echo(context.Background(), req)
						if err != nil {
							errs <- err
							return
						}
						if !bytes.Equal(req, resp) {
							t.Errorf("echo of %d bytes came back as %d different bytes", size, len(resp))
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// TestLenders: the frameworks whose callers reuse reply memory are dora (LeaseReply) and
// rawtcp; dora-default decodes copies, as its defaults do.
func TestLenders(t *testing.T) {
	for name, want := range map[string]bool{"dora": true, "rawtcp": true, "dora-default": false, "grpc": false} {
		f, err := rpc.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := start(t, f, 1).(rpc.Lender); ok != want {
			t.Errorf("%s is a Lender: %v, want %v", name, ok, want)
		}
	}
}

// TestWorker runs the harness worker of every framework for a fixed number of calls.
func TestWorker(t *testing.T) {
	for _, name := range rpc.Names() {
		t.Run(name, func(t *testing.T) {
			f, err := rpc.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			c := start(t, f, 2)
			newWorker := rpc.NewWorker(c, 64)
			calls := make([]harness.Call, 2)
			for i := range calls {
				w, err := newWorker(i)
				if err != nil {
					t.Fatal(err)
				}
				calls[i] = w.Call
			}
			fixed := harness.NewFixed(calls)
			if err := fixed.RunN(10); err != nil {
				t.Fatal(err)
			}
			if sum := fixed.Summary(); sum.Count != 10 {
				t.Errorf("%d calls recorded, want 10", sum.Count)
			}
		})
	}
}

func TestPayloadLimit(t *testing.T) {
	f, err := rpc.Lookup("grpc")
	if err != nil {
		t.Fatal(err)
	}
	c := start(t, f, 1)
	if _, err := rpc.NewWorker(c, rpc.MaxPayload+1)(0); err == nil {
		t.Error("NewWorker accepted a payload over MaxPayload")
	}
}
