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

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
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
	// mu serialises reading the clock and updating lim, so lim sees the calls on its
	// bucket in the order of their times (see Allow).
	mu   sync.Mutex
	last time.Time // the latest time lim was given; a clock reading before it is taken as it
	lim  *rate.Limiter
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
//
// Allow reads the clock under the bucket's lock and never lets the bucket's time go
// backwards: x/time/rate, given a time earlier than its last one, takes the earlier one as
// its new reference and credits the interval between them a second time, so concurrent
// callers whose clock readings reached the bucket out of order were admitted up to twice
// the quota (issue #14 row 13). Every call on one key therefore admits exactly what
// burst + rate × elapsed allows, whatever the number of concurrent callers.
func (l *Local) Allow(_ context.Context, key string, limit domain.Limit) (domain.Decision, error) {
	if err := checkLimit(limit); err != nil {
		return domain.Decision{}, err
	}
	b := l.buckets.GetOrSet(key, func() *bucket {
		return &bucket{lim: rate.NewLimiter(rate.Limit(limit.Rate), limit.Burst)}
	})
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.sync(l.now(), limit)
	if b.lim.AllowN(now, 1) {
		return domain.Decision{Allowed: true}, nil
	}
	// Denied: AllowN changed nothing.
	return domain.Decision{RetryAfter: b.wait(now, limit)}, nil
}

// Peek implements domain.RateLimiter: it reports whether Allow would admit a call on key
// now, taking no token and creating no bucket (an unknown key is a full bucket).
func (l *Local) Peek(_ context.Context, key string, limit domain.Limit) (domain.Decision, error) {
	if err := checkLimit(limit); err != nil {
		return domain.Decision{}, err
	}
	b, ok := l.buckets.Get(key)
	if !ok {
		return domain.Decision{Allowed: true}, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.sync(l.now(), limit)
	if b.lim.TokensAt(now) >= 1 {
		return domain.Decision{Allowed: true}, nil
	}
	return domain.Decision{RetryAfter: b.wait(now, limit)}, nil
}

// checkLimit returns the error of Allow and Peek for a limit that is not positive.
func checkLimit(limit domain.Limit) error {
	if limit.Rate <= 0 || limit.Burst <= 0 {
		return fmt.Errorf("ratelimit: limit %d/s burst %d must be positive", limit.Rate, limit.Burst)
	}
	return nil
}

// sync returns the time to give b.lim for a clock reading of now (never before the last
// one) and applies a limit that changed since the last call. b.mu must be held.
func (b *bucket) sync(now time.Time, limit domain.Limit) time.Time {
	if now.Before(b.last) {
		now = b.last // an injected clock that is not monotonic
	}
	b.last = now
	if b.lim.Limit() != rate.Limit(limit.Rate) {
		b.lim.SetLimitAt(now, rate.Limit(limit.Rate))
	}
	if b.lim.Burst() != limit.Burst {
		b.lim.SetBurstAt(now, limit.Burst)
	}
	return now
}

// wait is the time until b holds a whole token: the missing fraction accrues at
// limit.Rate per second (computed as x/time/rate computes its delays). b.mu must be held.
func (b *bucket) wait(now time.Time, limit domain.Limit) time.Duration {
	missing := 1 - b.lim.TokensAt(now)
	d := time.Duration(float64(time.Second) * (missing / float64(limit.Rate)))
	return max(d, time.Nanosecond)
}
