package ratelimit_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/ratelimit"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestLocalBurstAndRefill(t *testing.T) {
	clk := &clock{now: time.Unix(1000, 0)}
	l := ratelimit.NewLocal(ratelimit.Options{Now: clk.Now})
	ctx := context.Background()
	lim := domain.Limit{Rate: 10, Burst: 2}
	for i := range 2 {
		if d, err := l.Allow(ctx, "u", lim); err != nil || !d.Allowed {
			t.Fatalf("call %d within burst denied: %+v %v", i, d, err)
		}
	}
	d, err := l.Allow(ctx, "u", lim)
	if err != nil || d.Allowed || d.RetryAfter != 100*time.Millisecond {
		t.Fatalf("over burst: %+v %v, want denied with RetryAfter 100ms", d, err)
	}
	if d, _ := l.Allow(ctx, "other", lim); !d.Allowed {
		t.Fatal("buckets are not per key")
	}
	clk.Add(100 * time.Millisecond)
	if d, _ := l.Allow(ctx, "u", lim); !d.Allowed {
		t.Fatal("not refilled after RetryAfter")
	}
	if d, _ := l.Allow(ctx, "u", lim); d.Allowed {
		t.Fatal("refilled more than one token in 100ms")
	}
	// A raised limit applies from the next call on: the bucket then fills to the new burst.
	big := domain.Limit{Rate: 100, Burst: 10}
	l.Allow(ctx, "u", big)
	clk.Add(time.Second)
	for i := range 10 {
		if d, _ := l.Allow(ctx, "u", big); !d.Allowed {
			t.Fatalf("call %d under raised limit denied", i)
		}
	}
}

func TestLocalRejectsBadLimit(t *testing.T) {
	l := ratelimit.NewLocal(ratelimit.Options{})
	for _, lim := range []domain.Limit{{Rate: 0, Burst: 1}, {Rate: 1, Burst: 0}, {Rate: -1, Burst: 5}} {
		if _, err := l.Allow(context.Background(), "k", lim); err == nil {
			t.Errorf("Allow(%+v) accepted", lim)
		}
	}
}

func TestLocalConcurrentExact(t *testing.T) {
	clk := &clock{now: time.Unix(1000, 0)}
	l := ratelimit.NewLocal(ratelimit.Options{Now: clk.Now, MaxKeys: 4})
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				d, _ := l.Allow(context.Background(), "shared", domain.Limit{Rate: 1, Burst: 100})
				if d.Allowed {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if allowed != 100 {
		t.Fatalf("%d calls allowed with a frozen clock and burst 100", allowed)
	}
}

func BenchmarkLocalAllow(b *testing.B) {
	l := ratelimit.NewLocal(ratelimit.Options{})
	lim := domain.Limit{Rate: 1 << 30, Burst: 1 << 30}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		l.Allow(ctx, "r:1", lim)
	}
}

// TestLocalPeek: Peek reads a bucket without taking a token or creating it.
func TestLocalPeek(t *testing.T) {
	clk := &clock{now: time.Unix(1000, 0)}
	l := ratelimit.NewLocal(ratelimit.Options{Now: clk.Now})
	ctx := context.Background()
	lim := domain.Limit{Rate: 5, Burst: 2}
	for range 3 {
		if d, err := l.Peek(ctx, "login:u", lim); err != nil || !d.Allowed {
			t.Fatalf("peek at a fresh bucket: %+v %v", d, err)
		}
	}
	for i := range 2 {
		if d, _ := l.Allow(ctx, "login:u", lim); !d.Allowed {
			t.Fatalf("take %d denied: peeks took tokens", i)
		}
	}
	for range 2 {
		if d, err := l.Peek(ctx, "login:u", lim); err != nil || d.Allowed || d.RetryAfter != 200*time.Millisecond {
			t.Fatalf("peek at an empty bucket: %+v %v, want denied, RetryAfter 200ms", d, err)
		}
	}
	clk.Add(200 * time.Millisecond)
	if d, _ := l.Peek(ctx, "login:u", lim); !d.Allowed {
		t.Fatal("not refilled after RetryAfter")
	}
	if _, err := l.Peek(ctx, "k", domain.Limit{Rate: 0, Burst: 1}); err == nil {
		t.Fatal("zero rate accepted")
	}
}
