package dora_test

// Hostile-peer tests of issue #14: each attacks a real server over loopback TCP and
// checks that its memory stays bounded, that the attack ends the way the docs say and
// that a good client alongside keeps working.

import (
	"errors"
	"net"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
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
	srv := dora.NewServer(dora.ServerLogger(slogTo(&logs)))
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
	srv := dora.NewServer(dora.ServerLogger(quietLogger))
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
	srv2 := dora.NewServer(dora.ServerLogger(quietLogger))
	defer srv2.Stop()
	if err := srv2.Serve(&flakyListener{Listener: lis2, errs: []error{perm}}); !errors.Is(err, perm) {
		t.Fatalf("Serve = %v, want the permanent error", err)
	}
}
