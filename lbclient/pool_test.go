package lbclient

import (
	"context"
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
