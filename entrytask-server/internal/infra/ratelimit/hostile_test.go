package ratelimit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/ratelimit"
)

// tickClock advances by step at every reading, so every call sees a distinct time and the
// order of the readings is the order of the times.
type tickClock struct {
	start time.Time
	step  time.Duration
	n     atomic.Int64
}

func (c *tickClock) Now() time.Time { return c.start.Add(time.Duration(c.n.Add(1)) * c.step) }

// TestHostileLocalConcurrentCallersExact: issue #14 row 13. 1,000 callers of one user's
// bucket at once, on a clock that moves 1 ms per reading, are admitted exactly as the same
// 1,000 calls made one after the other: the limiter used to read the clock before taking
// the bucket's lock, so x/time/rate saw times out of order and credited intervals twice.
func TestHostileLocalConcurrentCallersExact(t *testing.T) {
	const callers = 1000
	lim := domain.Limit{Rate: 5, Burst: 1}
	start := time.Unix(1000, 0)

	seqClock := &tickClock{start: start, step: time.Millisecond}
	seq := ratelimit.NewLocal(ratelimit.Options{Now: seqClock.Now})
	want := 0
	for range callers {
		if d, err := seq.Allow(context.Background(), "r:1", lim); err != nil {
			t.Fatal(err)
		} else if d.Allowed {
			want++
		}
	}
	// burst + rate × elapsed: 1 + 5/s × 1 s
	if budget := lim.Burst + lim.Rate*callers/1000; want > budget {
		t.Fatalf("sequential calls: %d allowed, quota allows %d", want, budget)
	}

	clk := &tickClock{start: start, step: time.Millisecond}
	l := ratelimit.NewLocal(ratelimit.Options{Now: clk.Now})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
			if d, err := l.Allow(context.Background(), "r:1", lim); err == nil && d.Allowed {
				allowed.Add(1)
			}
		}()
	}
	close(release)
	wg.Wait()
	if got := allowed.Load(); got != int64(want) {
		t.Fatalf("%d concurrent callers: %d allowed, the quota (%d/s, burst %d over %d ms) allows exactly %d",
			callers, got, lim.Rate, lim.Burst, callers, want)
	}
}

// TestHostileLocalClockBackwards: issue #14 row 13, deterministically. Readings that reach
// a bucket out of order (here a clock that alternates between two instants one second
// apart) must not credit the second between them more than once: the bucket's time never
// goes back. Before the fix every other call was admitted.
func TestHostileLocalClockBackwards(t *testing.T) {
	const calls = 40
	lim := domain.Limit{Rate: 1, Burst: 1}
	t0 := time.Unix(1000, 0)
	var n atomic.Int64
	l := ratelimit.NewLocal(ratelimit.Options{Now: func() time.Time {
		if n.Add(1)%2 == 0 {
			return t0
		}
		return t0.Add(time.Second)
	}})
	allowed := 0
	for range calls {
		d, err := l.Allow(context.Background(), "r:1", lim)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			allowed++
		} else if d.RetryAfter <= 0 || d.RetryAfter > time.Second {
			t.Fatalf("denied with RetryAfter %s, want 0 < RetryAfter <= 1s", d.RetryAfter)
		}
	}
	// Everything happened within one second: burst + rate × 1 s at most.
	if budget := lim.Burst + lim.Rate; allowed > budget {
		t.Fatalf("%d calls within 1 s: %d allowed, quota %d/s burst %d allows %d", calls, allowed, lim.Rate, lim.Burst, budget)
	}
}
