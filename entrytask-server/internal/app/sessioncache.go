package app

import (
	"container/list"
	"sync"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
)

// sessionCache keeps sessions Authenticate looked up, by the client's token, so that a
// cached call needs neither a store round trip nor the token's SHA-256. Entries expire ttl
// after they were stored and are dropped by id when a session changes (Logout here, or a
// SessionWatcher's report of a change anywhere). Beyond capacity the oldest entry goes:
// lookups take only a read lock and do not reorder entries (with a TTL of seconds, the
// order of insertion is close enough to the order of use).
//
// In watched mode the cache answers only while its watcher reports changes (see
// domain.SessionObserver); every other time lookups miss and nothing is stored.
//
// A lookup that missed may race with a change: the session read from the store before a
// change must not be stored after the change was reported. Every change bumps seq, and
// put stores only when seq has not moved since the lookup began.
type sessionCache struct {
	ttl     time.Duration
	now     func() time.Time
	cap     int
	watched bool // watched mode: use only while live

	mu      sync.RWMutex
	live    bool   // watched mode: the watcher reports every change
	seq     uint64 // bumped by every change
	byToken map[string]*list.Element
	byID    map[string]*list.Element
	order   list.List // front = newest; values are *sessionEntry
}

type sessionEntry struct {
	token   string
	sess    domain.Session
	expires time.Time
}

func newSessionCache(capacity int, ttl time.Duration, now func() time.Time, watched bool) *sessionCache {
	return &sessionCache{
		ttl: ttl, now: now, cap: capacity, watched: watched,
		byToken: make(map[string]*list.Element), byID: make(map[string]*list.Element),
	}
}

func (c *sessionCache) usableLocked() bool { return !c.watched || c.live }

// get returns the cached session of token.
func (c *sessionCache) get(token string) (domain.Session, bool) {
	c.mu.RLock()
	el, ok := c.byToken[token]
	if !ok || !c.usableLocked() {
		c.mu.RUnlock()
		return domain.Session{}, false
	}
	e := el.Value.(*sessionEntry)
	sess, expires := e.sess, e.expires
	c.mu.RUnlock()
	if !c.now().Before(expires) {
		return domain.Session{}, false // put replaces it after the store lookup
	}
	return sess, true
}

// begin returns the change sequence number to give put after reading the store.
func (c *sessionCache) begin() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq
}

// put stores sess for token unless a change was reported since begin returned seq.
func (c *sessionCache) put(token string, sess domain.Session, seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if seq != c.seq || !c.usableLocked() {
		return
	}
	if el, ok := c.byToken[token]; ok {
		c.removeLocked(el)
	}
	if el, ok := c.byID[sess.ID]; ok {
		c.removeLocked(el)
	}
	el := c.order.PushFront(&sessionEntry{token: token, sess: sess, expires: c.now().Add(c.ttl)})
	c.byToken[token], c.byID[sess.ID] = el, el
	if c.order.Len() > c.cap {
		c.removeLocked(c.order.Back())
	}
}

func (c *sessionCache) removeLocked(el *list.Element) {
	e := el.Value.(*sessionEntry)
	c.order.Remove(el)
	delete(c.byToken, e.token)
	delete(c.byID, e.sess.ID)
}

// SessionsChanged implements domain.SessionObserver; Logout calls it too.
func (c *sessionCache) SessionsChanged(ids []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	for _, id := range ids {
		if el, ok := c.byID[id]; ok {
			c.removeLocked(el)
		}
	}
}

// SessionsWatched implements domain.SessionObserver: either way every entry goes.
func (c *sessionCache) SessionsWatched(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	c.live = on
	c.byToken = make(map[string]*list.Element)
	c.byID = make(map[string]*list.Element)
	c.order.Init()
}
