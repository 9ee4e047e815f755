package redis

import (
	"container/list"
	"strings"
	"sync"
)

// ValueEntryOverhead is what the value cache counts for one entry on top of its key's and
// its value's bytes: the list element, the entry, the map slot and the headers of the key
// string and the value slice, rounded up (about 100 bytes on 64-bit platforms).
const ValueEntryOverhead = 128

// valueCache keeps values Store.Get read from Redis, by Redis key, while the watch reports
// every change to the value keys (see Store.WatchSessions and Store.WatchValues); every
// other time lookups miss and nothing is stored. It is a least-recently-used cache bounded
// by bytes: an entry counts its key's and value's bytes plus ValueEntryOverhead, the
// entries together at most budget; a value larger than a quarter of the budget is never
// stored.
//
// A lookup that missed may race with a change: the value read from Redis before a change
// must not be stored after the change was reported (by the watch, or by this process's own
// Put or Delete). Every change bumps seq; lookup returns seq and put stores only when it
// has not moved since. One sequence serves every key: a change to any value key keeps the
// fills in flight out, which costs them only a later miss.
//
// The values are shared by every caller of Store.Get: nobody may modify them.
type valueCache struct {
	budget   int64 // bytes of all entries, overheads included
	maxValue int64 // largest value stored: budget/4

	mu    sync.Mutex
	live  bool   // the watch reports every change
	seq   uint64 // bumped by every change
	used  int64  // bytes of the entries held
	items map[string]*list.Element
	order list.List // front = most recently used; values are *valueEntry

	// Counters since the start (ValueCacheStats).
	hits, misses, evicted, dropped uint64

	// Tests' hooks, set before use: called after watched and after invalidate has dropped
	// keys of the value prefix.
	onWatched     func(on bool)
	onInvalidated func(keys []string)
}

type valueEntry struct {
	key   string
	value []byte
}

func (e *valueEntry) size() int64 { return int64(len(e.key)+len(e.value)) + ValueEntryOverhead }

// newValueCache returns an empty, not yet live cache of budget bytes (> 0).
func newValueCache(budget int64) *valueCache {
	return &valueCache{budget: budget, maxValue: budget / 4, items: make(map[string]*list.Element)}
}

// lookup returns key's cached value and true, or, on a miss, the change sequence number to
// give put once the value is read from Redis.
func (c *valueCache) lookup(key string) (value []byte, hit bool, seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok && c.live {
		c.order.MoveToFront(el)
		c.hits++
		return el.Value.(*valueEntry).value, true, 0
	}
	c.misses++
	return nil, false, c.seq
}

// put stores value under key unless a change was reported since lookup returned seq, the
// cache is not live, or the value is too large; it evicts least recently used entries to
// stay within the budget. value must never be modified afterwards.
func (c *valueCache) put(key string, value []byte, seq uint64) {
	if int64(len(value)) > c.maxValue {
		return
	}
	e := &valueEntry{key: key, value: value}
	if e.size() > c.budget {
		return // a key too long for a tiny budget
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if seq != c.seq || !c.live {
		return
	}
	if el, ok := c.items[key]; ok {
		c.removeLocked(el)
	}
	c.items[key] = c.order.PushFront(e)
	c.used += e.size()
	for c.used > c.budget {
		c.removeLocked(c.order.Back())
		c.evicted++
	}
}

func (c *valueCache) removeLocked(el *list.Element) {
	e := el.Value.(*valueEntry)
	c.order.Remove(el)
	delete(c.items, e.key)
	c.used -= e.size()
}

// changed drops key and bumps the sequence: this process wrote or deleted it.
func (c *valueCache) changed(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	if el, ok := c.items[key]; ok {
		c.removeLocked(el)
		c.dropped++
	}
}

// invalidate drops the keys of an invalidation message that start with prefix (the value
// keys) and bumps the sequence if there is one; others are left alone.
func (c *valueCache) invalidate(keys []string, prefix string) {
	var mine bool
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			mine = true
			break
		}
	}
	if !mine {
		return
	}
	c.mu.Lock()
	c.seq++
	for _, k := range keys {
		if el, ok := c.items[k]; ok {
			c.removeLocked(el)
			c.dropped++
		}
	}
	c.mu.Unlock()
	if c.onInvalidated != nil {
		c.onInvalidated(keys)
	}
}

// watched says whether the watch reports every change from now on; either way every
// entry goes and the sequence is bumped.
func (c *valueCache) watched(on bool) {
	c.mu.Lock()
	c.seq++
	c.live = on
	c.dropped += uint64(c.order.Len())
	c.used = 0
	c.items = make(map[string]*list.Element)
	c.order.Init()
	c.mu.Unlock()
	if c.onWatched != nil {
		c.onWatched(on)
	}
}

// ValueCacheStats is the value cache's state and its counters since the Store opened
// (Store.ValueCacheStats): what etserver exports as etserver_value_cache_* metrics.
type ValueCacheStats struct {
	// Hits are reads answered from the cache; Misses are reads that went to Redis while
	// the cache was on, including while it was bypassed (Live false).
	Hits, Misses uint64
	// Evictions are entries dropped to stay within the budget; Invalidations are entries
	// dropped because their key changed (this process's Put or Delete, the watch's
	// invalidation messages) or because the watch was lost, regained or flushed.
	Evictions, Invalidations uint64
	// Entries and Bytes are what the cache holds now (Bytes counts ValueEntryOverhead per
	// entry); Budget is its bound (Options.ValueCacheBytes).
	Entries int
	Bytes   int64
	Budget  int64
	Live    bool // the watch reports every change: reads may be answered from the cache
}

// snapshot returns the cache's ValueCacheStats.
func (c *valueCache) snapshot() ValueCacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ValueCacheStats{Hits: c.hits, Misses: c.misses, Evictions: c.evicted, Invalidations: c.dropped,
		Entries: c.order.Len(), Bytes: c.used, Budget: c.budget, Live: c.live}
}
