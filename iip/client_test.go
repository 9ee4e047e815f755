package iip

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// blockingServer has /block, whose handler signals started and waits for
// release (or its context), then answers "slow".
func blockingServer(t *testing.T) (addr string, started chan string, release chan struct{}) {
	s, addr := echoServer(t)
	started = make(chan string, 100)
	release = make(chan struct{})
	s.HandleFunc("/block", func(ctx context.Context, r *Request) ([]byte, error) {
		started <- string(r.Data)
		select {
		case <-release:
			return []byte("slow:" + string(r.Data)), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	return addr, started, release
}

func waitStarted(t *testing.T, started chan string) string {
	t.Helper()
	select {
	case s := <-started:
		return s
	case <-testCtx(t).Done():
		t.Fatal("handler never started")
		return ""
	}
}

// TestTimedOutCallDoesNotMisalign: a call whose context ends leaves the
// channel aligned; its late response is dropped.
func TestTimedOutCallDoesNotMisalign(t *testing.T) {
	addr, started, release := blockingServer(t)
	c := dialT(t, addr)
	ch, err := c.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	errc := make(chan error, 1)
	go func() {
		_, err := ch.Do(ctx, "/block", []byte("a"))
		errc <- err
	}()
	waitStarted(t, started)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	// The next call is pipelined behind the abandoned one.
	done := make(chan struct{})
	var resp []byte
	go func() {
		defer close(done)
		resp, err = ch.Do(testCtx(t), "/echo", []byte("b"))
	}()
	close(release)
	<-done
	if err != nil || string(resp) != "b" {
		t.Fatalf("after a timed-out call got %q, %v; want \"b\"", resp, err)
	}
}

// faultConn fails its n-th write after writing half of it.
type faultConn struct {
	net.Conn
	writes atomic.Int32
	failAt atomic.Int32
}

func (f *faultConn) Write(b []byte) (int, error) {
	if f.writes.Add(1) == f.failAt.Load() {
		n, _ := f.Conn.Write(b[:len(b)/2])
		return n, errors.New("injected write failure")
	}
	return f.Conn.Write(b)
}

// TestPartialWritePoisonsConnection: a request that is only half written
// fails its call, closes the connection and fails the calls pending on it;
// nobody receives another call's response.
func TestPartialWritePoisonsConnection(t *testing.T) {
	addr, started, release := blockingServer(t)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fc := &faultConn{Conn: nc}
	fc.failAt.Store(1 << 30)
	c := newConn(fc, clientOptionsT(t, WithLogger(quietLogger())))
	defer c.Close()
	ch, err := c.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	// One call pending on the channel, then a write that breaks half way.
	errc := make(chan error, 1)
	go func() {
		_, err := ch.Do(testCtx(t), "/block", []byte("pending"))
		errc <- err
	}()
	waitStarted(t, started)
	fc.failAt.Store(fc.writes.Load() + 1)
	_, err = ch.Do(testCtx(t), "/echo", bytes.Repeat([]byte("x"), 1000))
	if !errors.Is(err, ErrConnLost) {
		t.Fatalf("broken write returned %v, want ErrConnLost", err)
	}
	if err := <-errc; !errors.Is(err, ErrConnLost) {
		t.Fatalf("pending call got %v, want ErrConnLost", err)
	}
	if _, err := ch.Do(testCtx(t), "/echo", []byte("after")); !errors.Is(err, ErrConnLost) {
		t.Fatalf("call after poisoning got %v", err)
	}
	close(release)
}

// TestUnsentCallLeavesChannelAligned: a call whose context ends before
// any byte is written is taken off the queue; the next call gets its own
// response.
func TestUnsentCallLeavesChannelAligned(t *testing.T) {
	_, addr := echoServer(t)
	c := dialT(t, addr)
	ch, err := c.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.w.acquire(context.Background()); err != nil { // hold the connection's write lock
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = ch.Do(ctx, "/echo", []byte("never sent"))
	c.w.release()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	resp, err := ch.Do(testCtx(t), "/echo", []byte("mine"))
	if err != nil || string(resp) != "mine" {
		t.Fatalf("got %q, %v", resp, err)
	}
	if c.Err() != nil {
		t.Fatalf("connection broken: %v", c.Err())
	}
}

// TestConnectionDeathFailsAllPending: every pending call on every channel
// fails at once when the connection dies.
func TestConnectionDeathFailsAllPending(t *testing.T) {
	addr, started, _ := blockingServer(t)
	c := dialT(t, addr)
	const n = 5
	errs := make(chan error, n)
	for i := range n {
		ch, err := c.NewChannel(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			_, err := ch.Do(testCtx(t), "/block", []byte(fmt.Sprint(i)))
			errs <- err
		}()
	}
	for range n {
		waitStarted(t, started)
	}
	_ = c.c.Close() // the socket dies under the calls
	for range n {
		if err := <-errs; !errors.Is(err, ErrConnLost) {
			t.Fatalf("pending call got %v, want ErrConnLost", err)
		}
	}
	<-c.Done()
}

func TestClientPoolConcurrent(t *testing.T) {
	_, addr := echoServer(t)
	cl, err := NewClient(testCtx(t), addr, WithPool(2, 4), WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	echoMany(t, cl, 16, 50)
	cl.mu.Lock()
	conns, total := len(cl.conns), cl.total
	cl.mu.Unlock()
	if conns > 2 || total > 8 {
		t.Fatalf("pool grew to %d conns, %d channels", conns, total)
	}
}

// echoMany makes callers goroutines send calls echo calls each on cl, every one with its
// own message, and checks every answer.
func echoMany(t *testing.T, cl *Client, callers, calls int) {
	t.Helper()
	var wg sync.WaitGroup
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				msg := []byte(fmt.Sprintf("g%d-i%d", g, i))
				resp, err := cl.Do(testCtx(t), "/echo", msg)
				if err != nil || !bytes.Equal(resp, msg) {
					t.Errorf("got %q, %v; want %q", resp, err, msg)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestClientPoolReplacesDeadConnection: after the server drops every
// connection, the pool dials again.
func TestClientPoolReplacesDeadConnection(t *testing.T) {
	s, addr := echoServer(t)
	cl, err := NewClient(testCtx(t), addr, WithPool(1, 2), WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Do(testCtx(t), "/echo", []byte("1")); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	for sc := range s.conns {
		sc.close(nil)
	}
	s.mu.Unlock()
	cl.mu.Lock()
	first := cl.conns[0]
	cl.mu.Unlock()
	<-first.Done()
	resp, err := cl.Do(testCtx(t), "/echo", []byte("2"))
	if err != nil || string(resp) != "2" {
		t.Fatalf("after reconnect got %q, %v", resp, err)
	}
}

func TestTypedErrors(t *testing.T) {
	s, addr := echoServer(t)
	s.HandleFunc("/empty", func(ctx context.Context, r *Request) ([]byte, error) { return nil, nil })
	s.HandleFunc("/coded", func(ctx context.Context, r *Request) ([]byte, error) {
		return nil, &Error{Code: CodeTimeout, Message: "backend slow"}
	})
	s.HandleFunc("/errorlike", func(ctx context.Context, r *Request) ([]byte, error) {
		return []byte(`{"code":105,"message":"i am data"}`), nil
	})
	s.HandleFunc("/panic", func(ctx context.Context, r *Request) ([]byte, error) { panic("boom") })
	c := dialT(t, addr)
	ch, err := c.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		path     string
		want     string
		wantErr  error
		wantCode int
	}{
		{"no handler", "/missing", "", ErrNoHandler, CodeNoHandler},
		{"coded error", "/coded", "", ErrTimeout, CodeTimeout},
		{"panic", "/panic", "", ErrHandler, CodeHandler},
		{"empty response is data", "/empty", "", nil, 0},
		{"error-shaped data is data", "/errorlike", `{"code":105,"message":"i am data"}`, nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ch.Do(testCtx(t), tc.path, nil)
			if tc.wantErr == nil {
				if err != nil || string(got) != tc.want {
					t.Fatalf("got %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			var e *Error
			if !errors.Is(err, tc.wantErr) || !errors.As(err, &e) || e.Code != tc.wantCode {
				t.Fatalf("err %v, want code %d", err, tc.wantCode)
			}
		})
	}
}

// TestPoolKeepsTimedOutChannelAside: a channel whose call timed out is
// not handed to the next caller until its late response has arrived.
func TestPoolKeepsTimedOutChannelAside(t *testing.T) {
	addr, started, release := blockingServer(t)
	cl, err := NewClient(testCtx(t), addr, WithPool(1, 2), WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithCancel(testCtx(t))
	errc := make(chan error, 1)
	go func() { _, err := cl.Do(ctx, "/block", []byte("x")); errc <- err }()
	waitStarted(t, started)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	// The stuck channel is aside: this call gets the other channel and is
	// answered while /block still hangs.
	for i := range 3 {
		msg := []byte(fmt.Sprint(i))
		if resp, err := cl.Do(testCtx(t), "/echo", msg); err != nil || !bytes.Equal(resp, msg) {
			t.Fatalf("got %q, %v", resp, err)
		}
	}
	close(release)
}

// silentServer accepts our capabilities (keepalive included), answers
// new_channel and then never answers anything again.
func silentServer(t *testing.T) string { return silentServerWith(t, nil) }

// silentServerWith answers /sys/ping (and reports it on pings) when pings
// is not nil.
func silentServerWith(t *testing.T, pings chan struct{}) string {
	return rawServer(t, func(r *rawConn) {
		f, err := r.read()
		if err != nil {
			return
		}
		_, _ = r.c.Write(rawFrame(5, f.path, f.ch, `{"code":0,"channel_id":1,"caps":["keepalive"]}`))
		for {
			f, err := r.read()
			if err != nil {
				return
			}
			if pings != nil && f.path == pathPing {
				if _, err := r.c.Write(rawFrame(5, f.path, f.ch, `{"code":0}`)); err != nil {
					return
				}
				pings <- struct{}{}
			}
		}
	})
}

func TestKeepaliveClosesDeadConnection(t *testing.T) {
	addr := silentServer(t)
	c := dialT(t, addr, WithKeepalive(5*time.Millisecond))
	select {
	case <-c.Done():
	case <-testCtx(t).Done():
		t.Fatal("keepalive never closed the silent connection")
	}
	if !errors.Is(c.Err(), ErrConnLost) || !strings.Contains(c.Err().Error(), "keepalive") {
		t.Fatalf("err %v", c.Err())
	}
}

func TestKeepaliveKeepsLiveConnection(t *testing.T) {
	pings := make(chan struct{}, 100)
	addr := silentServerWith(t, pings)
	c := dialT(t, addr, WithKeepalive(2*time.Millisecond))
	for range 3 {
		select {
		case <-pings:
		case <-c.Done():
			t.Fatalf("connection ended: %v", c.Err())
		case <-testCtx(t).Done():
			t.Fatal("no ping")
		}
	}
	if c.Err() != nil {
		t.Fatal(c.Err())
	}
}

func TestClosedClientAndConn(t *testing.T) {
	_, addr := echoServer(t)
	cl, err := NewClient(testCtx(t), addr, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Do(testCtx(t), "/echo", []byte("x")); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if _, err := cl.Do(testCtx(t), "/echo", []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close: %v", err)
	}
	c := dialT(t, addr)
	c.Close()
	if _, err := c.Do(testCtx(t), "/echo", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Conn.Do after Close: %v", err)
	}
	if _, err := Dial(testCtx(t), "127.0.0.1:1", WithLogger(quietLogger())); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
}

// TestExpiredContextKeepsConnection: a call whose deadline has passed
// fails alone; the connection and the channel stay usable.
func TestExpiredContextKeepsConnection(t *testing.T) {
	_, addr := echoServer(t)
	c := dialT(t, addr)
	ch, err := c.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := ch.Do(ctx, "/echo", []byte("late")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	if resp, err := ch.Do(testCtx(t), "/echo", []byte("on time")); err != nil || string(resp) != "on time" {
		t.Fatalf("got %q, %v", resp, err)
	}
	if c.Err() != nil {
		t.Fatal(c.Err())
	}
}

// TestStuckWriteFailsItsCallAndPoisons: toward a server that stops
// reading, a large request cannot go out before its deadline; the call
// fails, and because part of it was written the connection is closed
// rather than left misaligned.
func TestStuckWriteFailsItsCallAndPoisons(t *testing.T) {
	addr := deafServer(t)
	c := dialT(t, addr)
	ch, err := c.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 48<<20) // far more than the socket buffers hold
	ctx, cancel := context.WithTimeout(testCtx(t), time.Second)
	defer cancel()
	_, err = ch.Do(ctx, "/echo", payload)
	if !errors.Is(err, ErrConnLost) {
		t.Fatalf("err %v, want ErrConnLost", err)
	}
	<-c.Done()
}

// deafServer answers the capability handshake and then never reads again.
func deafServer(t *testing.T) string {
	stop := make(chan struct{})
	addr := rawServer(t, func(r *rawConn) {
		r.br = bufio.NewReaderSize(r.c, 64) // read nothing past the handshake
		f, err := r.read()
		if err != nil {
			return
		}
		_, _ = r.c.Write(rawFrame(5, f.path, f.ch, `{"code":0,"channel_id":1,"caps":["typed-errors"]}`))
		<-stop
	})
	t.Cleanup(func() { close(stop) }) // runs before rawServer's cleanup waits for it
	return addr
}

// TestPipelinedCallsOnOneChannel: concurrent callers of one channel each
// get their own response.
func TestPipelinedCallsOnOneChannel(t *testing.T) {
	_, addr := echoServer(t)
	c := dialT(t, addr)
	ch, err := c.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				msg := []byte(fmt.Sprintf("g%d-%d", g, i))
				resp, err := ch.Do(testCtx(t), "/echo", msg)
				if err != nil || !bytes.Equal(resp, msg) {
					t.Errorf("got %q, %v; want %q", resp, err, msg)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// A call that finds the pool full because another call is dialing waits for
// that dial; when the dial fails it must retry at once (dialing itself), not
// wait until its context ends. Before the fix a failed dial woke nobody, and
// a balanced client's call to a killed backend hung while holding its lease.
func TestClientWaiterRetriesWhenDialFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 4)
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- nc // never answers the handshake: the dial waits until we close it
		}
	}()
	defer func() {
		l.Close()
		<-acceptDone
	}()
	nextConn := func(what string) net.Conn {
		t.Helper()
		select {
		case nc := <-accepted:
			return nc
		case <-time.After(testTimeout):
			t.Fatalf("timed out waiting for %s", what)
			return nil
		}
	}

	// A pool whose only connection has died: the next calls must dial.
	c := newClient(l.Addr().String(), clientOptionsT(t, WithPool(1, 2), WithLogger(quietLogger())))
	defer c.Close()
	waiting := make(chan struct{}, 1)
	c.onWait = func() {
		select {
		case waiting <- struct{}{}:
		default:
		}
	}
	ctx := testCtx(t)
	do := func() <-chan error {
		errc := make(chan error, 1)
		go func() {
			_, err := c.Do(ctx, "/echo", nil)
			errc <- err
		}()
		return errc
	}
	errA := do()
	first := nextConn("the first call's dial")
	errB := do()
	select {
	case <-waiting: // the second call queued behind the first call's dial
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting for the second call to queue")
	}
	first.Close() // the first call's handshake fails
	if err := <-errA; err == nil {
		t.Fatal("first call succeeded without a server")
	}
	second := nextConn("the queued call to dial after the failed dial (it was left waiting)")
	second.Close()
	if err := <-errB; err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued call: %v, want its own dial error", err)
	}
}

// Close must reach every call queued for a channel, not only the one woken
// by the channel its Close freed.
func TestCloseWakesEveryQueuedCall(t *testing.T) {
	addr, started, release := blockingServer(t)
	defer close(release)
	c, err := NewClient(testCtx(t), addr, WithPool(1, 1), WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waiting := make(chan struct{}, 2)
	c.onWait = func() {
		select {
		case waiting <- struct{}{}:
		default:
		}
	}
	ctx := testCtx(t)
	errc := make(chan error, 3)
	go func() { _, err := c.Do(ctx, "/block", []byte("a")); errc <- err }()
	waitStarted(t, started) // the only channel is busy
	for range 2 {
		go func() { _, err := c.Do(ctx, "/block", []byte("queued")); errc <- err }()
	}
	for range 2 {
		select {
		case <-waiting:
		case <-ctx.Done():
			t.Fatal("timed out waiting for the calls to queue")
		}
	}
	c.Close()
	for range 3 {
		if err := <-errc; err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("call after Close: %v, want the Close's error", err)
		}
	}
}
