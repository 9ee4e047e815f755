package transport_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
	"github.com/seed857a6cbd/pocket/benchmarks/transport"
)

// start serves t on a loopback port and dials one session; both close with the test.
func start(tb testing.TB, t transport.Transport) transport.Session {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := t.Serve(ln)
	if err != nil {
		tb.Fatal(err)
	}
	sess, err := t.Dial(ln.Addr().String())
	if err != nil {
		srv.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := sess.Close(); err != nil {
			tb.Errorf("session close: %v", err)
		}
		if err := srv.Close(); err != nil {
			tb.Errorf("server close: %v", err)
		}
	})
	return sess
}

func TestRegistry(t *testing.T) {
	want := []string{"smux", "tcp", "yamux"}
	got := transport.Names()
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("Names() = %v, missing %q", got, w)
		}
	}
	if _, err := transport.Lookup("nope"); err == nil {
		t.Error("Lookup(nope) succeeded")
	}
}

// TestTransports runs every mode of every registered transport briefly, with concurrent
// echo streams checking that each gets its own bytes back.
func TestTransports(t *testing.T) {
	for _, name := range transport.Names() {
		t.Run(name, func(t *testing.T) {
			tr, err := transport.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			sess := start(t, tr)
			t.Run("echo", func(t *testing.T) {
				var wg sync.WaitGroup
				errs := make(chan error, 8)
				for i := range 8 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						st, err := sess.Open(transport.Echo)
						if err != nil {
							errs <- err
							return
						}
						defer st.Close()
						for j := range 20 {
							req := bytes.Repeat([]byte{byte('a' + i)}, 1+j*97)
							resp := make([]byte, len(req))
							if err := st.Echo(req, resp); err != nil {
								errs <- err
								return
							}
							if !bytes.Equal(req, resp) {
								errs <- errors.New("echo mismatch")
								return
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
			t.Run("sink", func(t *testing.T) {
				st, err := sess.Open(transport.Sink)
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				msg := make([]byte, transport.BulkMessage)
				for range 8 {
					if err := st.Send(msg); err != nil {
						t.Fatal(err)
					}
				}
				if err := st.Sync(); err != nil {
					t.Fatal(err)
				}
			})
			t.Run("too large", func(t *testing.T) {
				st, err := sess.Open(transport.Echo)
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				big := make([]byte, transport.MaxMessage+1)
				if err := st.Echo(big, big); !errors.Is(err, transport.ErrMessageTooLarge) {
					t.Fatalf("Echo(%d bytes) = %v, want ErrMessageTooLarge", len(big), err)
				}
			})
			for _, mode := range transport.Modes {
				t.Run("load "+mode, func(t *testing.T) {
					l, err := transport.NewLoad(sess, mode, 64)
					if err != nil {
						t.Fatal(err)
					}
					calls := make([]harness.Call, 2)
					for i := range calls {
						w, err := l.NewWorker(i)
						if err != nil {
							t.Fatal(err)
						}
						calls[i] = w.Call
						defer func() {
							if err := w.Close(); err != nil {
								t.Errorf("worker close: %v", err)
							}
						}()
					}
					fixed := harness.NewFixed(calls)
					err = fixed.RunN(20)
					if stopErr := l.Stop(); stopErr != nil {
						t.Errorf("stop: %v", stopErr)
					}
					if err != nil {
						t.Fatal(err)
					}
					if sum := fixed.Summary(); sum.Count != 20 {
						t.Errorf("%d calls recorded, want 20", sum.Count)
					}
				})
			}
		})
	}
}

// TestServerRefusesOversizedFrame checks that the raw TCP server closes a connection that
// announces a frame over MaxMessage instead of allocating it.
func TestServerRefusesOversizedFrame(t *testing.T) {
	tr, err := transport.Lookup("tcp")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := tr.Serve(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var hdr [5]byte
	hdr[0] = 'E'
	binary.BigEndian.PutUint32(hdr[1:], transport.MaxMessage+1)
	if _, err := c.Write(hdr[:]); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after oversized frame = %d, %v; want EOF", n, err)
	}
}
