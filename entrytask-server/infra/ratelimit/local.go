// Package ratelimit implements domain.RateLimiter in process with golang.org/x/time/rate:
// one token bucket per key, held in an LRU so that memory stays bounded with many users.
// Buckets are local to one etserver instance; the Redis limiter in infra/redis shares them.
package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/seed857a6cbd/pocket/entrytask-server/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/lru"
)

// DefaultMaxKeys is the number of buckets kept when Options.MaxKeys is 0. A bucket evicted
// from the LRU comes back full, so a user idle long enough to be evicted gets at most one
// extra burst.
const DefaultMaxKeys = 100000

// Options configure a Local limiter; zero values mean the documented default.
type Options struct {
	MaxKeys int              // buckets kept; 0 means DefaultMaxKeys
	Now     func() time.Time // clock; nil means time.Now (tests inject a fake one)
}

// Local is an in-process domain.RateLimiter. It is safe for concurrent use.
type Local struct {
	now     func() time.Time
	buckets *lru.Cache[string, *bucket]
}

type bucket struct {
	mu  sync.Mutex // serialises the reserve-then-cancel sequence and limit updates
	lim *rate.Limiter
}

// NewLocal returns a Local limiter.
func NewLocal(opts Options) *Local {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	maxKeys := opts.MaxKeys
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Local{now: now, buckets: lru.New[string, *bucket](maxKeys, 0, nil)}
}

// Allow takes one token from key's bucket. A limit that changed since the bucket was
// created (a new quota) is applied from now on. It returns an error only for a limit that
// is not positive.
func (l *Local) Allow(_ context.Context, key string, limit domain.Limit) (domain.Decision, error) {
	if limit.Rate <= 0 || limit.Burst <= 0 {
		return domain.Decision{}, fmt.Errorf("ratelimit: limit %d/s burst %d must be positive", limit.Rate, limit.Burst)
	}
	now := l.now()
	b := l.buckets.GetOrSet(key, func() *bucket {
		return &bucket{lim: rate.NewLimiter(rate.Limit(limit.Rate), limit.Burst)}
	})
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lim.Limit() != rate.Limit(limit.Rate) {
		b.lim.SetLimitAt(now, rate.Limit(limit.Rate))
	}
	if b.lim.Burst() != limit.Burst {
		b.lim.SetBurstAt(now, limit.Burst)
	}
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return domain.Decision{RetryAfter: time.Second}, nil
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return domain.Decision{RetryAfter: d}, nil
	}
	return domain.Decision{Allowed: true}, nil
}
