package iip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/lbclient"
)

// Tests of the capabilities beyond the deployed protocol (PROTOCOL.md,
// section 9): control channel keepalive, cancellation, goaway, frame size.

// TestKeepaliveSparesAnsweringConnection: a call on channel 0 that runs
// longer than the keepalive's ping timeout (1 s) does not get the
// connection killed: pings travel on the control channel and the server's
// reader answers them at once. The call is released only after 15 pings
// (one per 100 ms interval), past the 1.1 s at which a ping queued behind
// the call on channel 0 would have killed the connection.
func TestKeepaliveSparesAnsweringConnection(t *testing.T) {
	s := newServerT(t, WithLogger(quietLogger()))
	pings := make(chan uint32, 64)
	s.testHookHeader = func(h frameHeader) {
		if string(h.Path) == pathPing {
			select {
			case pings <- h.Channel:
			default:
			}
		}
	}
	release := make(chan struct{})
	s.HandleFunc("/slow", func(ctx context.Context, r *Request) ([]byte, error) {
		select {
		case <-release:
			return []byte("done"), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	addr := startServer(t, s)
	c := dialT(t, addr, WithKeepalive(100*time.Millisecond))
	res := make(chan error, 1)
	start := time.Now()
	go func() {
		resp, err := c.Do(testCtx(t), "/slow", nil)
		if err == nil && string(resp) != "done" {
			err = fmt.Errorf("got %q", resp)
		}
		res <- err
	}()
	ctx := testCtx(t)
	for i := range 15 {
		select {
		case ch := <-pings:
			if ch != controlChannel {
				t.Fatalf("ping %d on channel %d, want the control channel", i, ch)
			}
		case err := <-res:
			t.Fatalf("call ended before it was released: %v", err)
		case <-ctx.Done():
			t.Fatalf("only %d pings", i)
		}
	}
	close(release)
	if err := <-res; err != nil {
		t.Fatalf("slow call after %v: %v", time.Since(start), err)
	}
	if err := c.Err(); err != nil {
		t.Fatalf("connection ended: %v", err)
	}
	t.Logf("channel-0 call of %v survived 15 keepalive pings", time.Since(start).Round(time.Millisecond))
}

// hookedServer is echoServer whose frame headers are reported, path by
// path, on the returned channel (dropped when 1024 wait unread).
func hookedServer(t *testing.T, opts ...ServerOption) (*Server, string, <-chan frameSeen) {
	t.Helper()
	s := newServerT(t, opts...)
	seen := make(chan frameSeen, 1024)
	s.testHookHeader = func(h frameHeader) {
		select {
		case seen <- frameSeen{path: string(h.Path), ch: h.Channel, status: h.Status, n: int(h.Length)}:
		default:
		}
	}
	s.HandleFunc("/echo", func(ctx context.Context, r *Request) ([]byte, error) { return r.Data, nil })
	return s, startServer(t, s), seen
}

// frameSeen is a frame header the server read.
type frameSeen struct {
	path   string
	ch     uint32
	status frameStatus
	n      int
}

// waitSeen waits until the server has read a frame header for path.
func waitSeen(t *testing.T, seen <-chan frameSeen, path string) frameSeen {
	t.Helper()
	ctx := testCtx(t)
	for {
		select {
		case f := <-seen:
			if f.path == path {
				return f
			}
		case <-ctx.Done():
			t.Fatalf("the server never read %s", path)
		}
	}
}

// TestCancelPropagates: the handler's context ends when the client's
// does: a 100 ms deadline, an explicit cancel, and a call cancelled while
// queued behind another on its channel (its handler starts with its
// context done). The channel's next call gets a live context.
func TestCancelPropagates(t *testing.T) {
	s, addr, seen := hookedServer(t)
	ended := make(chan error, 4)
	unblock := make(chan struct{})
	t.Cleanup(func() { close(unblock) })
	s.HandleFunc("/wait", func(ctx context.Context, r *Request) ([]byte, error) {
		select {
		case <-ctx.Done():
			ended <- ctx.Err()
			return nil, ctx.Err()
		case <-unblock:
			ended <- nil
			return []byte("unblocked"), nil
		}
	})
	hold := make(chan struct{})
	s.HandleFunc("/hold", func(ctx context.Context, r *Request) ([]byte, error) {
		<-hold
		return []byte("held"), nil
	})
	s.HandleFunc("/alive", func(ctx context.Context, r *Request) ([]byte, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return []byte("alive"), nil
	})
	c := dialT(t, addr)
	ch, err := c.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	waitEnded := func(what string, since time.Time) time.Duration {
		t.Helper()
		select {
		case err := <-ended:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("%s: handler ended with %v, want its context cancelled", what, err)
			}
			d := time.Since(since)
			t.Logf("%s: handler context done %v after the call began", what, d.Round(time.Millisecond))
			return d
		case <-testCtx(t).Done():
			t.Fatalf("%s: handler context never ended", what)
		}
		return 0
	}

	t.Run("deadline", func(t *testing.T) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if _, err := ch.Do(ctx, "/wait?deadline", nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v", err)
		}
		// A generous margin for -race on two busy cores; without the
		// cancel the handler would run until the test ends.
		if d := waitEnded("100 ms deadline", start); d > 2*time.Second {
			t.Fatalf("handler context ended %v after a 100 ms call", d)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		res := make(chan error, 1)
		go func() { _, err := ch.Do(ctx, "/wait?cancel", nil); res <- err }()
		waitSeen(t, seen, "/wait?cancel")
		start := time.Now()
		cancel()
		if err := <-res; !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
		waitEnded("cancel", start)
	})
	t.Run("queued", func(t *testing.T) {
		// The cancelled call waits behind /hold on the same channel.
		held := make(chan error, 1)
		go func() { _, err := ch.Do(testCtx(t), "/hold", nil); held <- err }()
		waitSeen(t, seen, "/hold")
		ctx, cancel := context.WithCancel(context.Background())
		res := make(chan error, 1)
		go func() { _, err := ch.Do(ctx, "/wait?queued", nil); res <- err }()
		waitSeen(t, seen, "/wait?queued")
		cancel()
		if err := <-res; !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
		// Once the server has read the cancel, a call written after it is
		// read after it: its answer means the queued request is marked.
		waitSeen(t, seen, pathCancel)
		if _, err := c.Do(testCtx(t), "/echo", []byte("x")); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		close(hold)
		if err := <-held; err != nil {
			t.Fatal(err)
		}
		waitEnded("queued", start)
		if resp, err := ch.Do(testCtx(t), "/alive", nil); err != nil || string(resp) != "alive" {
			t.Fatalf("next call on the channel: %q, %v", resp, err)
		}
	})
}

// TestGoAwayServer drives the server's graceful shutdown byte by byte from a
// client that negotiated "control" and "goaway": five requests pipelined
// on channel 1 in one write, the server stalled on the first with a
// channel queue of one, so it has read three when Shutdown begins. It
// answers those three, announces {"read":{"0":1,"1":3}} on the control
// channel, never answers the other two, and ends with a close frame.
func TestGoAwayServer(t *testing.T) {
	s, addr, seen := hookedServer(t, WithLimits(Limits{MaxChannelQueue: 1}))
	draining := make(chan struct{})
	var once sync.Once
	s.testHookDraining = func() { once.Do(func() { close(draining) }) }
	started, release := make(chan struct{}), make(chan struct{})
	s.HandleFunc("/block", func(ctx context.Context, r *Request) ([]byte, error) {
		close(started)
		<-release
		return []byte("unblocked"), nil
	})
	r := rawDial(t, addr)
	r.send(rawFrame(1, pathNewChannel, 0, `{"caps":["control","goaway"]}`))
	r.expect(rawResp{5, pathNewChannel, 0, `{"code":0,"channel_id":1,"caps":["control","goaway"]}`})
	var batch []byte
	batch = append(batch, rawFrame(1, "/block", 1, "{}")...)
	for _, d := range []string{"a", "b", "c", "d"} {
		batch = append(batch, rawFrame(1, "/echo", 1, d)...)
	}
	r.send(batch)
	<-started
	// The reader has read /echo a (queued) and /echo b (waiting for room).
	waitSeen(t, seen, "/echo")
	waitSeen(t, seen, "/echo")
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(testCtx(t)) }()
	<-draining
	close(release)
	var got []rawResp
	for {
		f, err := r.read()
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		if f.status == byte(statusClose) {
			break
		}
		got = append(got, f)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	var onChan1 []string
	var goaway []rawResp
	for _, f := range got {
		switch f.ch {
		case 1:
			onChan1 = append(onChan1, f.data)
		case controlChannel:
			goaway = append(goaway, f)
		default:
			t.Fatalf("unexpected frame %+v", f)
		}
	}
	if strings.Join(onChan1, ",") != "unblocked,a,b" {
		t.Fatalf("answers on channel 1: %q, want unblocked,a,b", onChan1)
	}
	want := rawResp{5, pathGoAway, controlChannel, `{"code":0,"read":{"0":1,"1":3}}`}
	if len(goaway) != 1 || goaway[0] != want {
		t.Fatalf("goaway %+v, want %+v", goaway, want)
	}
}

// TestGoAwayClient: a server announces that it read only the first of
// three calls pipelined on a channel; the first gets its answer, the two
// others fail at once with an error wrapping ErrGoAway that says the
// request was not sent (Client resends such calls elsewhere).
func TestGoAwayClient(t *testing.T) {
	read := make(chan rawResp, 4)
	answer := make(chan struct{})
	addr := rawServer(t, func(r *rawConn) {
		c := r.c
		f, err := r.read()
		if err != nil {
			return
		}
		_, _ = c.Write(rawFrame(5, f.path, f.ch, `{"code":0,"channel_id":1,"caps":["control","goaway"]}`))
		for range 3 {
			if f, err = r.read(); err != nil {
				return
			}
			read <- f
		}
		<-answer
		out := rawFrame(5, "/echo", 1, "first")
		out = append(out, rawFrame(5, pathGoAway, controlChannel, `{"code":0,"read":{"0":1,"1":1}}`)...)
		_, _ = c.Write(out)
		for {
			if _, err := r.read(); err != nil {
				return
			}
		}
	})
	conn := dialT(t, addr, WithKeepalive(-1))
	ch, err := conn.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		resp string
		err  error
	}
	results := make([]chan result, 3)
	for i := range results {
		results[i] = make(chan result, 1)
		go func() {
			resp, err := ch.Do(testCtx(t), "/echo", []byte{byte('a' + i)})
			results[i] <- result{string(resp), err}
		}()
		<-read // in order: the server read call i
	}
	close(answer)
	if r := <-results[0]; r.err != nil || r.resp != "first" {
		t.Fatalf("first call: %q, %v", r.resp, r.err)
	}
	for i := 1; i < 3; i++ {
		r := <-results[i]
		if !errors.Is(r.err, ErrGoAway) || !isNotSent(r.err) {
			t.Fatalf("call %d: %v, want a not-sent ErrGoAway", i, r.err)
		}
	}
	if _, err := ch.Do(testCtx(t), "/echo", nil); !errors.Is(err, ErrGoAway) || !isNotSent(err) {
		t.Fatalf("call after goaway: %v", err)
	}
}

// TestShutdownUnderLoadLosesNoCall: a balanced client over two servers
// under a bounded load loop (8 callers, 150 calls each); one server shuts
// down gracefully in the middle. Every call succeeds: calls the server had
// read are answered, the others come back with ErrGoAway and are resent to
// the other server.
func TestShutdownUnderLoadLosesNoCall(t *testing.T) {
	var unread atomic.Int64
	testHookGoAway = func(n int) { unread.Add(int64(n)) }
	t.Cleanup(func() { testHookGoAway = nil })
	a, addrA := echoServer(t)
	_, addrB := echoServer(t)
	lb, err := NewLoadBalanceClient(addrA+","+addrB, WithLogger(quietLogger()), WithPool(2, 8), WithBalancer(lbclient.WithPickAttempts(9)))
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	const callers, calls = 8, 150
	var done atomic.Int64
	halfway := make(chan struct{})
	var once sync.Once
	shut := make(chan error, 1)
	go func() {
		select {
		case <-halfway:
			shut <- a.Shutdown(testCtx(t))
		case <-testCtx(t).Done():
			shut <- errors.New("load never reached halfway")
		}
	}()
	var failures atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := testCtx(t)
			for i := range calls {
				msg := fmt.Appendf(nil, "%d-%d", g, i)
				resp, err := lb.Do(ctx, "/echo", msg)
				if err != nil || string(resp) != string(msg) {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("call %s: %q, %v", msg, resp, err))
				}
				if done.Add(1) == callers*calls/3 {
					once.Do(func() { close(halfway) })
				}
				if ctx.Err() != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d calls lost; first: %v", n, callers*calls, firstErr.Load())
	}
	t.Logf("%d calls, 0 lost; %d calls the shutting-down server had not read were resent", callers*calls, unread.Load())
}

// TestFrameSizeInterleaves: with the negotiated 64 KiB frames, a small
// call on another channel of the same connection completes while a large
// echo (64 MiB, 16 MiB under -race) is still in progress, and every frame
// of the large request is at most 64 KiB.
func TestFrameSizeInterleaves(t *testing.T) {
	_, addr, seen := hookedServer(t)
	c := dialT(t, addr)
	if got := c.sentFrameSize(); got != DefaultFrameSize {
		t.Fatalf("frame size %d, want %d", got, DefaultFrameSize)
	}
	bulkCh, err := c.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	smallCh, err := c.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	n := 64 << 20
	if matrixUnderRace {
		n = 16 << 20
	}
	big := pattern(n)
	bulk := make(chan error, 1)
	go func() {
		resp, err := bulkCh.Do(testCtx(t), "/echo?bulk", big)
		if err == nil && len(resp) != len(big) {
			err = fmt.Errorf("bulk echo: %d bytes back", len(resp))
		}
		bulk <- err
	}()
	first := waitSeen(t, seen, "/echo?bulk")
	if first.status != statusRequestFirst || first.n != DefaultFrameSize {
		t.Fatalf("first bulk frame %+v, want status 0 of %d bytes", first, DefaultFrameSize)
	}
	resp, err := smallCh.Do(testCtx(t), "/echo?small", []byte("small"))
	if err != nil || string(resp) != "small" {
		t.Fatalf("small call: %q, %v", resp, err)
	}
	select {
	case err := <-bulk:
		t.Fatalf("the bulk call ended (%v) before the small one", err)
	default:
	}
	if err := <-bulk; err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case f := <-seen:
			if f.n > DefaultFrameSize {
				t.Fatalf("frame %+v over %d bytes", f, DefaultFrameSize)
			}
			continue
		default:
		}
		break
	}
}
