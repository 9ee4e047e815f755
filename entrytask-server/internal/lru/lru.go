// Package lru is a small concurrency-safe least-recently-used cache whose entries expire
// after a time to live. It is used for quotas and local rate-limiter buckets.
package lru

import (
	"container/list"
	"sync"
	"time"
)

// DefaultCapacity is the capacity used when New is given capacity <= 0.
const DefaultCapacity = 1024

// Cache maps K to V, holding at most a fixed number of entries; adding one more evicts the
// least recently used. Entries older than the TTL are not returned. All methods are safe
// for concurrent use.
type Cache[K comparable, V any] struct {
	mu    sync.Mutex
	cap   int
	ttl   time.Duration
	now   func() time.Time
	order *list.List // front = most recently used; values are *entry[K, V]
	items map[K]*list.Element
}

type entry[K comparable, V any] struct {
	key     K
	value   V
	expires time.Time // zero: never
}

// New returns a cache of capacity entries (DefaultCapacity if <= 0) whose entries expire
// ttl after they are set (never if ttl <= 0). now is the clock; nil means time.Now.
func New[K comparable, V any](capacity int, ttl time.Duration, now func() time.Time) *Cache[K, V] {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	if now == nil {
		now = time.Now
	}
	return &Cache[K, V]{cap: capacity, ttl: ttl, now: now, order: list.New(), items: make(map[K]*list.Element, min(capacity, 1024))}
}

// Get returns the value for key and true, or the zero V and false if it is absent or expired.
func (c *Cache[K, V]) Get(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.getLocked(key)
}

// Set stores value under key, replacing any previous value and restarting its TTL.
func (c *Cache[K, V]) Set(key K, value V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(key, value)
}

// GetOrSet returns the live value for key, or stores and returns newValue() if there is
// none. newValue runs under the cache's lock (so concurrent callers share one value): it
// must be quick and must not use the cache.
func (c *Cache[K, V]) GetOrSet(key K, newValue func() V) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.getLocked(key); ok {
		return v
	}
	v := newValue()
	c.setLocked(key, v)
	return v
}

func (c *Cache[K, V]) getLocked(key K) (V, bool) {
	el, ok := c.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	e := el.Value.(*entry[K, V])
	if !e.expires.IsZero() && !c.now().Before(e.expires) {
		c.order.Remove(el)
		delete(c.items, key)
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return e.value, true
}

func (c *Cache[K, V]) setLocked(key K, value V) {
	var expires time.Time
	if c.ttl > 0 {
		expires = c.now().Add(c.ttl)
	}
	if el, ok := c.items[key]; ok {
		e := el.Value.(*entry[K, V])
		e.value, e.expires = value, expires
		c.order.MoveToFront(el)
		return
	}
	c.items[key] = c.order.PushFront(&entry[K, V]{key: key, value: value, expires: expires})
	if c.order.Len() > c.cap {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*entry[K, V]).key)
	}
}

// Delete removes key if present.
func (c *Cache[K, V]) Delete(key K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.order.Remove(el)
		delete(c.items, key)
	}
}

// Len returns the number of entries held, expired ones included until they are touched.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
