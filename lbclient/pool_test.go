package lbclient

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"
)

// A call that queues while the pool dials its only connection must be served
// by that connection as soon as the dial completes, when it has spare slots
// (as a shared client does), without waiting for the dialing call to finish.
func TestPoolWakesWaitersAfterDial(t *testing.T) {
	dialing := make(chan struct{})
	release := make(chan struct{})
	dial := func(ctx context.Context, addr string) (*nopConn, error) {
		close(dialing)
		<-release
		return &nopConn{}, nil
	}
	waiting := make(chan struct{}, 1)
	p := &pool[*nopConn]{onWait: func() { waiting <- struct{}{} }}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	type result struct {
		pc  *pconn[*nopConn]
		err error
	}
	first := make(chan result, 1)
	go func() {
		pc, _, err := p.get(ctx, "a", dial, 1, 100)
		first <- result{pc, err}
	}()
	waitFor(t, dialing, 5*time.Second, "the first call to dial")

	second := make(chan result, 1)
	go func() {
		pc, _, err := p.get(ctx, "a", dial, 1, 100)
		second <- result{pc, err}
	}()
	waitFor(t, waiting, 5*time.Second, "the second call to queue")
	close(release)

	r1 := <-first
	if r1.err != nil {
		t.Fatalf("first call: %v", r1.err)
	}
	// The first lease is still held: only the wake-up after the dial can serve the second call.
	select {
	case r2 := <-second:
		if r2.err != nil || r2.pc != r1.pc {
			t.Fatalf("second call: pc %p err %v, want the dialed connection %p", r2.pc, r2.err, r1.pc)
		}
	case <-ctx.Done():
		t.Fatal("second call still waiting after the dial completed while the first lease is held")
	}
}

// idConn is an in-memory connection that records its Close.
type idConn struct {
	id     int
	closed atomic.Bool
	closes atomic.Int32
}

func (c *idConn) Close() error { c.closes.Add(1); c.closed.Store(true); return nil }

func dialIDs() Dialer[*idConn] {
	var n atomic.Int32
	return func(context.Context, string) (*idConn, error) { return &idConn{id: int(n.Add(1))}, nil }
}

// setOnWait installs the pool's wait hook of backend i.
func setOnWait[C io.Closer](b *Balancer[C], i int, f func()) {
	p := &b.set.Load().backends[i].pool
	p.mu.Lock()
	p.onWait = f
	p.mu.Unlock()
}

// A call that hangs on a shared client keeps the client in use after its
// backend is ejected; the half-open trial must dial a fresh client instead
// of waiting for the retired one (before the fix it waited until its
// context ended, and the backend could never be restored).
func TestTrialDoesNotWaitForRetiredConn(t *testing.T) {
	b, err := New("127.0.0.1:7000", dialIDs(), WithSharedClient(), WithConns(0, 1), WithFailureThreshold(1),
		WithEjection(time.Nanosecond, time.Nanosecond), WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	setOnWait(b, 0, cancel) // any wait is the bug: fail at once

	stuck, err := b.Pick(ctx, "") // a call that hangs on the shared client
	if err != nil {
		t.Fatal(err)
	}
	failing, err := b.Pick(ctx, "")
	if err != nil || failing.Conn != stuck.Conn {
		t.Fatalf("second call: %v, conn %v, want the shared conn %v", err, failing.Conn, stuck.Conn)
	}
	failing.Done(errors.New("backend failure")) // ejects: the shared conn is retired, still in use
	if st := b.Stats()[0]; st.Ejections != 1 || st.Health == Healthy {
		t.Fatalf("after the failure: %+v, want ejected", st)
	}

	trial, err := b.Pick(ctx, "") // the backoff (1ns) is over
	if err != nil {
		t.Fatalf("pick after the backoff: %v (waited for the retired connection)", err)
	}
	if trial.Conn == stuck.Conn || stuck.Conn.closed.Load() {
		t.Fatalf("pick after the backoff got conn %d (closed %v), want a fresh one", trial.Conn.id, stuck.Conn.closed.Load())
	}
	trial.Done(nil)
	stuck.Done(nil)
	if !stuck.Conn.closed.Load() || trial.Conn.closed.Load() {
		t.Fatalf("retired conn closed %v (want true), fresh conn closed %v (want false)", stuck.Conn.closed.Load(), trial.Conn.closed.Load())
	}
}

// A call queued for a slot on a backend that gets ejected meanwhile must be
// sent to a healthy backend, not keep waiting for the ejected backend's
// retired connection (or dial it).
func TestWaiterOnEjectedBackendPicksAgain(t *testing.T) {
	const addrA, addrB = "127.0.0.1:7000", "127.0.0.1:7001"
	b, err := New(addrA+","+addrB, dialIDs(), WithPicker(PickRoundRobin), WithConns(0, 1), WithMaxCallsPerConn(2),
		WithFailureThreshold(1), WithEjection(time.Hour, time.Hour), WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// Round robin alternates a, b, a, b, a: fill a's only connection (two
	// slots), finishing b's calls at once.
	var held []Lease[*idConn]
	for i, want := range []string{addrA, addrB, addrA, addrB} {
		l, err := b.Pick(ctx, "")
		if err != nil || l.Addr != want {
			t.Fatalf("pick %d: %v at %s, want %s", i, err, l.Addr, want)
		}
		if want == addrB {
			l.Done(nil)
		} else {
			held = append(held, l)
		}
	}
	var waits atomic.Int32
	waiting := make(chan struct{}, 1)
	setOnWait(b, 0, func() {
		if waits.Add(1) > 1 {
			cancel() // waiting again after the ejection is the bug
		}
		select {
		case waiting <- struct{}{}:
		default:
		}
	})
	type result struct {
		l   Lease[*idConn]
		err error
	}
	res := make(chan result, 1)
	go func() {
		l, err := b.Pick(ctx, "")
		res <- result{l, err}
	}()
	waitFor(t, waiting, 5*time.Second, "the fifth call to queue at a")

	held[1].Done(errors.New("backend failure")) // ejects a; its connection stays busy with held[0]
	r := <-res
	if r.err != nil || r.l.Addr != addrB {
		t.Fatalf("queued call: %v at %q, want it re-picked to %s", r.err, r.l.Addr, addrB)
	}
	r.l.Done(nil)
	held[0].Done(nil)
	if st := b.Stats()[0]; st.Conns != 0 || st.Health != Ejected {
		t.Fatalf("a after its last call: %+v, want ejected with its retired conn closed", st)
	}
}

// Balancer.Close closes a connection that carries a call at once when
// WithCloseInFlight is on (WithSharedClient), exactly once even when the call
// finishes afterwards; by default it waits for the call.
func TestCloseInFlight(t *testing.T) {
	cases := []struct {
		name      string
		opts      []Option
		wantAtEnd bool // closed right after Close, before the call is done
	}{
		{"default waits for the call", nil, false},
		{"shared client closes at once", []Option{WithSharedClient()}, true},
		{"shared client, turned off", []Option{WithSharedClient(), WithCloseInFlight(false)}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New("127.0.0.1:7000", dialIDs(), append([]Option{WithLogger(quiet)}, tc.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			l, err := b.Pick(context.Background(), "")
			if err != nil {
				t.Fatal(err)
			}
			b.Close()
			if got := l.Conn.closed.Load(); got != tc.wantAtEnd {
				t.Fatalf("busy connection closed by Close: %v, want %v", got, tc.wantAtEnd)
			}
			l.Done(nil)
			if n := l.Conn.closes.Load(); n != 1 {
				t.Fatalf("connection closed %d times after the call, want 1", n)
			}
		})
	}
}
