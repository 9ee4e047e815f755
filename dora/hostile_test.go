package dora_test

// Hostile-peer tests of issue #14: each attacks a real server over loopback TCP and
// checks that its memory stays bounded, that the attack ends the way the docs say and
// that a good client alongside keeps working.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/dora/wirepb"
	"github.com/seed857a6cbd/pocket/nap"
)

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// checkHeap fails t when the live heap grew by more than budget since base.
func checkHeap(t *testing.T, what string, base, budget uint64) {
	t.Helper()
	now := liveHeap()
	var grew uint64
	if now > base {
		grew = now - base
	}
	t.Logf("%s: live heap %d KiB -> %d KiB (+%d KiB, budget %d KiB)", what, base>>10, now>>10, grew>>10, budget>>10)
	if grew > budget {
		t.Fatalf("%s: live heap grew by %d KiB, budget %d KiB", what, grew>>10, budget>>10)
	}
}

// goodCall makes one unary call that must succeed within a second.
func goodCall(t *testing.T, c *dora.Client, text string) {
	t.Helper()
	ctx, cancel := contextWithCancel(t)
	defer cancel()
	resp, err := echo.NewEchoClient(c).Say(ctx, &echo.SayRequest{Text: text}, dora.Timeout(time.Second))
	if err != nil {
		t.Fatalf("good client: %v", err)
	}
	if resp.Text != text {
		t.Fatalf("good client: got %q, want %q", resp.Text, text)
	}
}

// flakyListener returns errs from Accept (one per call) before passing calls to the real
// listener. When notifyAt > 0, notify is closed at the notifyAt-th call.
type flakyListener struct {
	net.Listener
	errs     []error
	calls    atomic.Int32
	notifyAt int32
	notify   chan struct{}
}

func (l *flakyListener) Accept() (net.Conn, error) {
	n := l.calls.Add(1)
	if n == l.notifyAt {
		close(l.notify)
	}
	if int(n) <= len(l.errs) {
		return nil, l.errs[n-1]
	}
	return l.Listener.Accept()
}

func acceptErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

// TestHostileAcceptErrorsAreRetried: issue #14 row 8. Running out of descriptors (400
// connections against `ulimit -n 256`) made Accept fail with EMFILE, and Serve returned,
// which ended etserver. Temporary accept errors are now retried with backoff (5 ms
// doubling to 1 s), logged once per burst, and serving resumes.
func TestHostileAcceptErrorsAreRetried(t *testing.T) {
	base := liveHeap()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// 5 ms + 10 + 20 + 40 + 80 + 160 = 315 ms of backoff in all.
	fl := &flakyListener{Listener: lis, errs: []error{
		acceptErr(syscall.EMFILE), acceptErr(syscall.ENFILE), acceptErr(syscall.ECONNABORTED),
		acceptErr(syscall.ENOBUFS), acceptErr(syscall.ENOMEM), acceptErr(syscall.EMFILE),
	}}
	var logs logBuf
	srv := dora.NewServer(dora.WithLogger(slogTo(&logs)))
	echo.RegisterEchoServer(srv, &echoImpl{})
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- srv.Serve(fl) }()
	c := newTestClient(t, lis.Addr().String(), dora.WithBackoff(5*time.Millisecond, 50*time.Millisecond))
	ctx := testCtx(t)
	resp, err := echo.NewEchoClient(c).Say(ctx, &echo.SayRequest{Text: "after EMFILE"}, dora.WaitForReady(true))
	if err != nil {
		t.Fatalf("call after temporary accept errors: %v (logs: %s)", err, logs.String())
	}
	if resp.Text != "after EMFILE" {
		t.Fatalf("got %q", resp.Text)
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("served after %v: the 6 errors should have cost >= 315 ms of backoff", el)
	}
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v on temporary accept errors", err)
	default:
	}
	out := logs.String()
	if n := strings.Count(out, "accept failed"); n != 1 {
		t.Errorf("%d 'accept failed' log records for one burst, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, "accept recovered"); n != 1 || !strings.Contains(out, "failed_accepts=6") {
		t.Errorf("want one 'accept recovered' record with failed_accepts=6:\n%s", out)
	}
	c.Close()
	srv.Stop()
	if err := <-done; err != nil {
		t.Fatalf("Serve after Stop: %v", err)
	}
	checkHeap(t, "accept errors", base, 4<<20)
}

// TestHostileAcceptStopDuringBackoff: Stop ends Serve while it waits out an accept
// backoff, and a permanent error still ends Serve with that error (issue #14 row 8).
func TestHostileAcceptStopDuringBackoff(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	errs := make([]error, 100) // 100 EMFILEs: the backoff reaches its 1 s cap
	for i := range errs {
		errs[i] = acceptErr(syscall.EMFILE)
	}
	// The 8th Accept comes after 7 errors (5+10+...+320 ms = 635 ms of backoff); the
	// 8th error starts a 640 ms wait, which Stop must cut short.
	fl := &flakyListener{Listener: lis, errs: errs, notifyAt: 8, notify: make(chan struct{})}
	srv := dora.NewServer(dora.WithLogger(quietLogger))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(fl) }()
	select {
	case <-fl.notify:
	case err := <-done:
		t.Fatalf("Serve returned %v", err)
	case <-time.After(testTimeout):
		t.Fatal("Serve did not retry its accept errors")
	}
	start := time.Now()
	srv.Stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after Stop = %v, want nil", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Serve did not return after Stop")
	}
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Errorf("Stop took %v to end Serve's backoff wait", el)
	}

	// A permanent error is returned.
	lis2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	perm := errors.New("listener broken for good")
	srv2 := dora.NewServer(dora.WithLogger(quietLogger))
	defer srv2.Stop()
	if err := srv2.Serve(&flakyListener{Listener: lis2, errs: []error{perm}}); !errors.Is(err, perm) {
		t.Fatalf("Serve = %v, want the permanent error", err)
	}
}

// liveCalls is a StatsHandler that counts server calls begun and ended.
type liveCalls struct {
	begun, ended atomic.Int64
	endedCh      chan struct{} // gets a token (when there is room) at every end
}

func (cc *liveCalls) CallBegin(ctx context.Context, _ *dora.CallInfo) context.Context {
	cc.begun.Add(1)
	return ctx
}

func (cc *liveCalls) CallEnd(context.Context, *dora.CallStats) {
	cc.ended.Add(1)
	select {
	case cc.endedCh <- struct{}{}:
	default:
	}
}

// waitAllEnded waits until every call begun has ended.
func (cc *liveCalls) waitAllEnded(t *testing.T, within time.Duration) {
	t.Helper()
	timeout := time.After(within)
	for cc.ended.Load() < cc.begun.Load() {
		select {
		case <-cc.endedCh:
		case <-timeout:
			t.Fatalf("%d of %d server calls still running after %v: handler goroutines blocked on a peer",
				cc.begun.Load()-cc.ended.Load(), cc.begun.Load(), within)
		}
	}
}

// TestHostileRepliesNeverRead: issue #14 row 2 (dora part). Peers advertise a 1-byte
// window, ask many times for a 1 MiB value and never read. Before, each reply's buffer
// was held by a goroutine blocked in SendAndClose forever (2 connections x 500 calls: 3 GiB).
// Now encoded replies are bounded by MaxConnReplyBytes/MaxServerReplyBytes, replies that
// cannot be sent fail after nap's WriteTimeout, the stalled connections are closed while
// the server's budget is exhausted, every handler goroutine ends, and a good client
// (small and 1 MiB calls) keeps getting answers.
func TestHostileRepliesNeverRead(t *testing.T) {
	const (
		attackers    = 4
		callsEach    = 40 // 160 replies of 1 MiB: 160 MiB held before the fix
		connBudget   = 3 << 20
		serverBudget = 6 << 20
		// The replies' budget plus the test's own slack (the good client's session keeps
		// up to 4 released 1 MiB receive buffers, goroutines, sessions).
		heapBudget = serverBudget + 12<<20
	)
	blob := make([]byte, 1<<20)
	impl := &echoImpl{onSay: func(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
		if in.Text == "big" {
			return &echo.SayResponse{Text: in.Text, Blob: blob}, nil // shared: only dora's encoding is per call
		}
		return &echo.SayResponse{Text: in.Text}, nil
	}}
	cc := &liveCalls{endedCh: make(chan struct{}, 1)}
	var logs logBuf
	base := liveHeap()
	ts := startServer(t, impl, dora.WithLogger(slogTo(&logs)), dora.WithStats(cc),
		dora.WithNapConfig(nap.Config{WriteTimeout: 2 * time.Second}),
		dora.MaxConnReplyBytes(connBudget), dora.MaxServerReplyBytes(serverBudget))
	good := newTestClient(t, ts.addr)
	goodCall(t, good, "before")

	reqPayload, _ := proto.Marshal(&echo.SayRequest{Text: "big"})
	req, err := proto.Marshal(&wirepb.Pkg{Head: &wirepb.Head{Version: 1, Method: echo.Echo_Say_FullMethodName}, Payload: reqPayload})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	var bad []*nap.Session
	for range attackers {
		sess, err := nap.Dial(ctx, "tcp", ts.addr, &nap.Config{StreamWindow: 1, ConnWindow: 1, KeepAliveInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		bad = append(bad, sess)
		for range callsEach {
			st, err := sess.OpenStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.SendAndClose(req); err != nil {
				t.Fatal(err)
			}
			// never Recv
		}
	}

	// The good client during the attack: small calls and 1 MiB calls, all answered; the
	// small ones never wait for the exhausted server budget.
	var lat, small []time.Duration
	peak := uint64(0)
	for i := range 12 {
		start := time.Now()
		if i%3 == 2 {
			resp, err := echo.NewEchoClient(good).Say(ctx, &echo.SayRequest{Text: "big"}, dora.Timeout(8*time.Second))
			if err != nil || len(resp.Blob) != len(blob) {
				t.Fatalf("good client, 1 MiB call %d during the attack: %v", i, err)
			}
		} else {
			goodCall2(t, good, fmt.Sprint("during ", i), 8*time.Second)
			small = append(small, time.Since(start))
		}
		lat = append(lat, time.Since(start))
		if h := liveHeap(); h > peak {
			peak = h
		}
	}
	slices.Sort(lat)
	slices.Sort(small)
	t.Logf("good client during the attack: %d calls, median %v, max %v; small calls: max %v", len(lat), lat[len(lat)/2], lat[len(lat)-1], small[len(small)-1])
	if m := small[len(small)-1]; m >= time.Second {
		t.Errorf("a small good call took %v during the attack: small replies must not wait for the exhausted server budget (the stalled connections are only closed after 1 s)", m)
	}
	var grew uint64
	if peak > base {
		grew = peak - base
	}
	t.Logf("live heap peak during the attack: +%d KiB (budget %d KiB; without the reply budgets the server held %d MiB)",
		grew>>10, uint64(heapBudget)>>10, attackers*callsEach)
	if grew > heapBudget {
		t.Fatalf("live heap grew by %d KiB during the attack, budget %d KiB (reply budget %d KiB)", grew>>10, heapBudget>>10, serverBudget>>10)
	}

	// The attackers are closed: by the stall rule, or their calls fail by WriteTimeout.
	for i, sess := range bad {
		select {
		case <-sess.Done():
		case <-time.After(testTimeout):
			t.Errorf("attacking session %d still open", i)
		}
	}
	cc.waitAllEnded(t, testTimeout)
	if !strings.Contains(logs.String(), "does not read its replies") {
		t.Errorf("no log of the closed connection:\n%s", logs.String())
	}
	goodCall(t, good, "after")
	cc.waitAllEnded(t, testTimeout) // the server gives the budget back after the client has its answer
	if srv, conns := dora.ReplyBytesInUse(ts.srv); srv != 0 || conns != 0 {
		t.Errorf("reply budgets after the attack: server %d bytes, connections %d bytes reserved, want 0", srv, conns)
	}
	// The clients' nap sessions keep released 1 MiB receive buffers for reuse until their
	// read loops have exited (up to 8 here), hence the slack.
	good.Close()
	checkHeap(t, "after the attack", base, 12<<20)
}

// goodCall2 is goodCall with its own timeout.
func goodCall2(t *testing.T, c *dora.Client, text string, timeout time.Duration) {
	t.Helper()
	resp, err := echo.NewEchoClient(c).Say(testCtx(t), &echo.SayRequest{Text: text}, dora.Timeout(timeout))
	if err != nil {
		t.Fatalf("good client: %v", err)
	}
	if resp.Text != text {
		t.Fatalf("good client: got %q, want %q", resp.Text, text)
	}
}

// TestHostileServerCallsCap: issue #14 row 2 (dora part: concurrent handlers per
// server). A peer that keeps calls running (here, handlers that wait) cannot make the
// server run more than MaxServerCalls: further calls are refused before any handler sees
// them (RST_STREAM REFUSED_STREAM, retryable), logged once per burst, and the server
// serves again as soon as calls end.
func TestHostileServerCallsCap(t *testing.T) {
	const maxCalls = 8
	release := make(chan struct{})
	entered := make(chan struct{}, maxCalls)
	impl := &echoImpl{onSay: func(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
		if in.Text == "block" {
			entered <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return &echo.SayResponse{Text: in.Text}, nil
	}}
	var logs logBuf
	base := liveHeap()
	ts := startServer(t, impl, dora.WithLogger(slogTo(&logs)), dora.MaxServerCalls(maxCalls))
	ctx := testCtx(t)
	reqPayload, _ := proto.Marshal(&echo.SayRequest{Text: "block"})
	req, _ := proto.Marshal(&wirepb.Pkg{Head: &wirepb.Head{Version: 1, Method: echo.Echo_Say_FullMethodName}, Payload: reqPayload})
	sess, err := nap.Dial(ctx, "tcp", ts.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var held []*nap.Stream
	for range maxCalls {
		st, err := sess.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SendAndClose(req); err != nil {
			t.Fatal(err)
		}
		held = append(held, st)
	}
	for range maxCalls {
		select {
		case <-entered:
		case <-ctx.Done():
			t.Fatal("handlers did not start")
		}
	}
	// The server is full: more calls are refused at once.
	for i := range 4 {
		st, err := sess.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SendAndClose(req); err != nil {
			t.Fatal(err)
		}
		_, err = st.Recv()
		var se *nap.StreamError
		if !errors.As(err, &se) || se.Code != nap.CodeRefusedStream || !nap.IsRetryable(err) {
			t.Fatalf("call %d past MaxServerCalls: Recv = %v, want a retryable REFUSED_STREAM", i, err)
		}
		st.Close()
	}
	if n := strings.Count(logs.String(), "refusing new calls"); n != 1 {
		t.Errorf("%d 'refusing new calls' log records for one burst, want 1:\n%s", n, logs.String())
	}
	close(release)
	for _, st := range held {
		if _, err := st.Recv(); err != nil {
			t.Fatalf("held call: %v", err)
		}
		st.Close()
	}
	// The server counts a call until its goroutine is done, just after the answer left:
	// a call made right now may still be refused (Unavailable after the client's own
	// retries), as any client of a full server must expect. Bounded: each try is a call.
	good := echo.NewEchoClient(newTestClient(t, ts.addr))
	for try := 1; ; try++ {
		resp, err := good.Say(ctx, &echo.SayRequest{Text: "after"})
		if err == nil && resp.Text == "after" {
			break
		}
		if status.Code(err) != codes.Unavailable || try == 100 {
			t.Fatalf("good client after the calls ended, try %d: %v", try, err)
		}
	}
	checkHeap(t, "calls past MaxServerCalls", base, 4<<20)
}

// napFrame returns a raw nap frame (nap PROTOCOL.md section 1).
func napFrame(typ, flags byte, stream uint32, payload []byte) []byte {
	b := make([]byte, 10, 10+len(payload))
	binary.BigEndian.PutUint32(b[0:], uint32(len(payload)))
	binary.BigEndian.PutUint32(b[4:], stream)
	b[8], b[9] = typ, flags
	return append(b, payload...)
}

// TestHostilePartialRequests: issue #14 row 2 (dora part: handler goroutines never block
// forever on a peer). A raw-socket peer completes the nap handshake, then starts many
// requests (a DATA frame with MORE) and never finishes them. Each started call's goroutine
// waits for the rest of its request; RequestTimeout closes the connection, every such
// goroutine ends, and a good client alongside is served throughout.
func TestHostilePartialRequests(t *testing.T) {
	const (
		streams = 200
		timeout = 300 * time.Millisecond
	)
	cc := &liveCalls{endedCh: make(chan struct{}, 1)}
	var logs logBuf
	base := liveHeap()
	ts := startServer(t, nil, dora.WithLogger(slogTo(&logs)), dora.WithStats(cc), dora.RequestTimeout(timeout))
	good := newTestClient(t, ts.addr)
	goodCall(t, good, "before")

	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var attack []byte
	attack = append(attack, napFrame(0x2, 0, 0, []byte{0, 1})...) // SETTINGS, version 1, defaults
	for i := range streams {
		// The first 3 bytes of a Pkg, more to come (MORE), then nothing.
		attack = append(attack, napFrame(0x0, 0x1, uint32(2*i+1), []byte{0x0a, 0x20, 0x08})...)
	}
	start := time.Now()
	if _, err := conn.Write(attack); err != nil {
		t.Fatal(err)
	}
	// While the partial requests wait, the good client is served.
	for i := range 5 {
		goodCall(t, good, fmt.Sprint("during ", i))
	}
	// The server closes the attacker: read until EOF (or a reset), within the deadline.
	conn.SetReadDeadline(time.Now().Add(testTimeout))
	_, err = io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server did not close a connection whose %d requests stopped half-way (RequestTimeout %v)", streams, timeout)
	}
	closedAfter := time.Since(start)
	t.Logf("attacker closed after %v (RequestTimeout %v)", closedAfter, timeout)
	if closedAfter < timeout {
		t.Errorf("closed after %v, before RequestTimeout %v", closedAfter, timeout)
	}
	if !strings.Contains(logs.String(), "did not send a whole request in time") {
		t.Errorf("no log of the closed connection:\n%s", logs.String())
	}
	goodCall(t, good, "after")
	// No call began (no request was decoded), and the goroutines that waited are gone:
	// goleak checks that at the end of the package, the budget here checks the memory.
	cc.waitAllEnded(t, testTimeout)
	checkHeap(t, "partial requests", base, 4<<20)
}
