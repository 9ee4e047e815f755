package iip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// payloadOf returns n bytes that depend on seed.
func payloadOf(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*131 + i*7)
	}
	return b
}

// TestDoAppend covers DoAppend against our server (typed errors) and as an
// existing client would see it (DisableCaps: plain JSON errors), for
// responses in one frame (pooled), over 1 MiB (not pooled), in several
// frames, empty ones and errors.
func TestDoAppend(t *testing.T) {
	s, addr := echoServer(t)
	s.HandleFunc("/gen", func(ctx context.Context, r *Request) ([]byte, error) {
		var n int
		if _, err := fmt.Sscan(r.Query.Get("n"), &n); err != nil {
			return nil, err
		}
		return payloadOf(n, n), nil
	})
	s.HandleFunc("/empty", func(ctx context.Context, r *Request) ([]byte, error) { return nil, nil })
	s.HandleFunc("/coded", func(ctx context.Context, r *Request) ([]byte, error) {
		return nil, &Error{Code: CodeTimeout, Message: "backend slow"}
	})
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			c := dialT(t, addr, WithConfig(Config{DisableCaps: legacy}))
			ch, err := c.NewChannel(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			cases := []struct {
				name    string
				path    string
				want    []byte
				wantErr error
			}{
				{"small", "/gen?n=10", payloadOf(10, 10), nil},
				{"mid", "/gen?n=14410", payloadOf(14410, 14410), nil},
				{"over 1 MiB", "/gen?n=1100000", payloadOf(1100000, 1100000), nil},
				{"several frames", fmt.Sprintf("/gen?n=%d", MaxFrameData+10), payloadOf(MaxFrameData+10, MaxFrameData+10), nil},
				{"no handler", "/missing", nil, ErrNoHandler},
				{"coded error", "/coded", nil, ErrTimeout},
			}
			if !legacy {
				cases = append(cases, struct {
					name    string
					path    string
					want    []byte
					wantErr error
				}{"empty", "/empty", nil, nil})
			}
			prefix := []byte("prefix:")
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					dst := append(make([]byte, 0, 64), prefix...)
					got, err := ch.DoAppend(testCtx(t), tc.path, []byte("{}"), dst)
					if tc.wantErr != nil {
						if !errors.Is(err, tc.wantErr) || !bytes.Equal(got, prefix) {
							t.Fatalf("got %d bytes, %v; want %v and dst unchanged", len(got), err, tc.wantErr)
						}
						return
					}
					if err != nil || !bytes.Equal(got, append(prefix, tc.want...)) {
						t.Fatalf("got %d bytes, %v; want %d bytes after the prefix", len(got), err, len(tc.want))
					}
				})
			}
		})
	}
}

// TestRecycledBuffersNotMixed runs many concurrent calls with distinct
// payloads through a server that recycles request data and clients that
// recycle responses (DoAppend into a reused buffer), on Client and
// LoadBalanceClient, and checks every answer.
func TestRecycledBuffersNotMixed(t *testing.T) {
	s, addr := echoServer(t, WithRecycleRequestData())
	s.HandleFunc("/half", func(ctx context.Context, r *Request) ([]byte, error) { return r.Data[:len(r.Data)/2], nil })
	cl, err := NewClient(testCtx(t), addr, WithLogger(quietLogger()), WithPool(2, 4))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	lb, err := NewLoadBalanceClient(addr, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	calls := []struct {
		name string
		do   func(ctx context.Context, path string, data, dst []byte) ([]byte, error)
	}{
		{"Client.DoAppend", cl.DoAppend},
		{"Client.Do", func(ctx context.Context, path string, data, dst []byte) ([]byte, error) {
			resp, err := cl.Do(ctx, path, data)
			return append(dst, resp...), err
		}},
		{"LoadBalanceClient.DoAppend", lb.DoAppend},
	}
	ctx := testCtx(t)
	concurrently(t, 12, func(g int) error {
		c := calls[g%len(calls)]
		var buf []byte
		for i := range 40 {
			n := []int{100, 600, 5000, 14410, 40000}[(g+i)%5]
			data := payloadOf(g*1000+i, n)
			path, want := "/echo", data
			if i%3 == 0 {
				path, want = "/half", data[:n/2]
			}
			var err error
			buf, err = c.do(ctx, path, data, buf[:0])
			if err == nil && !bytes.Equal(buf, want) {
				err = fmt.Errorf("%s: call %d/%d of %d bytes got a wrong answer", c.name, g, i, n)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func TestBufPool(t *testing.T) {
	cases := []struct {
		n       int
		wantCap int
	}{
		{1, 512}, {512, 512}, {513, 1024}, {14410, 16384}, {1 << 20, 1 << 20}, {1<<20 + 1, 0},
	}
	for _, tc := range cases {
		pb := getBuf(tc.n)
		if tc.wantCap == 0 {
			if pb != nil {
				t.Fatalf("getBuf(%d) pooled a buffer", tc.n)
			}
			continue
		}
		if len(*pb) != tc.n || cap(*pb) != tc.wantCap {
			t.Fatalf("getBuf(%d): len %d cap %d, want cap %d", tc.n, len(*pb), cap(*pb), tc.wantCap)
		}
		putBuf(pb)
	}
}

// TestChannelsRunTogether: handlers that can only finish together (a
// barrier over every channel of one connection) all get their requests,
// round after round, so that the server's idle workers are reused.
func TestChannelsRunTogether(t *testing.T) {
	const n = 6
	var mu sync.Mutex
	arrived := 0
	round := make(chan struct{})
	s, addr := echoServer(t)
	s.HandleFunc("/barrier", func(ctx context.Context, r *Request) ([]byte, error) {
		mu.Lock()
		arrived++
		wait := round
		if arrived == n {
			arrived = 0
			close(round)
			round = make(chan struct{})
		}
		mu.Unlock()
		select {
		case <-wait:
			return r.Data, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	c := dialT(t, addr)
	chans := make([]*Channel, n)
	for i := range chans {
		var err error
		if chans[i], err = c.NewChannel(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	for r := range 5 {
		errc := make(chan error, n)
		for i, ch := range chans {
			go func() {
				want := fmt.Sprintf("round %d channel %d", r, i)
				resp, err := ch.Do(testCtx(t), "/barrier", []byte(want))
				if err == nil && string(resp) != want {
					err = fmt.Errorf("got %q, want %q", resp, want)
				}
				errc <- err
			}()
		}
		for range n {
			if err := <-errc; err != nil {
				t.Fatalf("round %d: %v", r, err)
			}
		}
	}
}

// TestWorkersStress mixes handlers that return at once with slower ones,
// over many channels and callers, and checks every answer.
func TestWorkersStress(t *testing.T) {
	s, addr := echoServer(t)
	s.HandleFunc("/sleep", func(ctx context.Context, r *Request) ([]byte, error) {
		timer := time.NewTimer(time.Duration(len(r.Data)%7) * 40 * time.Microsecond)
		defer timer.Stop()
		select {
		case <-timer.C:
			return r.Data, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	cl, err := NewClient(testCtx(t), addr, WithLogger(quietLogger()), WithPool(2, 8))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := testCtx(t)
	concurrently(t, 16, func(g int) error {
		for i := range 60 {
			data := payloadOf(g*100+i, 1+(g*37+i*11)%3000)
			path := "/echo"
			if i%2 == 1 {
				path = "/sleep"
			}
			resp, err := cl.Do(ctx, path, data)
			if err == nil && !bytes.Equal(resp, data) {
				err = fmt.Errorf("caller %d call %d: wrong answer", g, i)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// TestCloseWhileResponsesArrive closes connections while calls are in
// flight: every call ends with its answer, ErrClosed or ErrConnLost. (The
// reader must also drop a response whose call Close failed between its
// header and its delivery; that window is too narrow to hit on purpose.)
func TestCloseWhileResponsesArrive(t *testing.T) {
	_, addr := echoServer(t)
	data := payloadOf(1, 5000)
	for range 30 {
		c := dialT(t, addr)
		var wg sync.WaitGroup
		for range 4 {
			ch, err := c.NewChannel(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					resp, err := ch.Do(testCtx(t), "/echo", data)
					if err != nil {
						if !errors.Is(err, ErrClosed) && !errors.Is(err, ErrConnLost) {
							t.Errorf("err %v, want ErrClosed or ErrConnLost", err)
						}
						return
					}
					if !bytes.Equal(resp, data) {
						t.Error("wrong answer")
						return
					}
				}
			}()
		}
		if _, err := c.Do(testCtx(t), pathPing, nil); err != nil {
			t.Fatal(err)
		}
		c.Close()
		wg.Wait()
	}
}

// concurrently runs work(g) for g = 0..n-1, each on its own goroutine, and fails t with
// the first error any of them returns.
func concurrently(t *testing.T, n int, work func(g int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := work(g); err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
}
