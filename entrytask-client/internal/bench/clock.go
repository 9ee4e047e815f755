package bench

import (
	"context"
	"sync"
	"time"
)

// Clock is the engine's source of time. The engine reads it around every request and the
// open loop sleeps on it until each intended send time.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// SleepUntil returns when the clock reaches t (at once if it already has), or with the
	// context's error when ctx ends first.
	SleepUntil(ctx context.Context, t time.Time) error
}

// RealClock is the wall clock (time.Now with its monotonic reading, and a timer). It is the
// default Clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// SleepUntil waits on a timer until t or until ctx ends.
func (RealClock) SleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// VirtualClock is a Clock whose time moves only when told to: SleepUntil jumps the time
// forward to its argument instead of waiting, and Advance moves it by a duration. It makes
// runs that measure a known, deterministic latency (an Op that calls Advance) exact and
// instant; it is deterministic only when a single goroutine moves it (one closed-loop worker).
// The zero value starts at the zero time; use NewVirtualClock for a readable start.
type VirtualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewVirtualClock returns a VirtualClock reading start.
func NewVirtualClock(start time.Time) *VirtualClock { return &VirtualClock{now: start} }

// Now returns the virtual time.
func (c *VirtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// SleepUntil moves the virtual time forward to t (never backward) and returns at once, or
// returns the context's error if ctx has ended.
func (c *VirtualClock) SleepUntil(ctx context.Context, t time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	if t.After(c.now) {
		c.now = t
	}
	c.mu.Unlock()
	return nil
}

// Advance moves the virtual time forward by d (a negative d is ignored).
func (c *VirtualClock) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
