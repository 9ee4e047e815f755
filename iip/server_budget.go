package iip

import (
	"sync"
	"sync/atomic"
)

// budget counts a resource (bytes, handlers) against a limit. Taking and
// giving back are atomic adds; a goroutine that must wait for room takes
// a channel from wait, checks again, and waits on it: it is closed at the
// next release.
type budget struct {
	limit   int64
	used    atomic.Int64
	waiters atomic.Int32
	mu      sync.Mutex
	room    chan struct{} // closed (and cleared) by release while waiters > 0
}

func newBudget(limit int64) *budget { return &budget{limit: limit} }

// fits reports whether n more units fit. A budget with nothing in use
// always fits, so that one item larger than the limit still passes.
func (b *budget) fits(n int64) bool {
	u := b.used.Load()
	return u == 0 || u+n <= b.limit
}

func (b *budget) take(n int64) { b.used.Add(n) }

// release gives n units back and wakes the waiters.
func (b *budget) release(n int64) {
	if n != 0 {
		b.used.Add(-n)
	}
	if b.waiters.Load() > 0 {
		b.mu.Lock()
		if b.room != nil {
			close(b.room)
			b.room = nil
		}
		b.mu.Unlock()
	}
}

// kick wakes the waiters without releasing anything (a condition other
// than the count changed).
func (b *budget) kick() { b.release(0) }

// wait registers a waiter and returns a channel closed at the next
// release. Check the condition again after wait, and call unwait when done.
func (b *budget) wait() <-chan struct{} {
	b.waiters.Add(1)
	b.mu.Lock()
	if b.room == nil {
		b.room = make(chan struct{})
	}
	ch := b.room
	b.mu.Unlock()
	return ch
}

func (b *budget) unwait() { b.waiters.Add(-1) }
