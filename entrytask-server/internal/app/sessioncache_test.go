package app

import (
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
)

func TestSessionCache(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	sess := func(id string) domain.Session {
		return domain.Session{ID: id, UserID: 1, Username: "u", ExpiresAt: now.Add(time.Hour)}
	}
	tests := []struct {
		name    string
		watched bool
		run     func(c *sessionCache) // ends with a lookup of token "t"
		want    bool                  // the lookup hits
	}{
		{"stored", false, func(c *sessionCache) { c.put("t", sess("i"), c.begin()) }, true},
		{"ttl passed", false, func(c *sessionCache) {
			c.put("t", sess("i"), c.begin())
			now = now.Add(time.Second)
		}, false},
		{"changed by id", false, func(c *sessionCache) {
			c.put("t", sess("i"), c.begin())
			c.SessionsChanged([]string{"x", "i"})
		}, false},
		{"other id changed", false, func(c *sessionCache) {
			c.put("t", sess("i"), c.begin())
			c.SessionsChanged([]string{"x"})
		}, true},
		{"change between lookup and put", false, func(c *sessionCache) {
			seq := c.begin()
			c.SessionsChanged([]string{"i"}) // the session read may be the one just deleted
			c.put("t", sess("i"), seq)
		}, false},
		{"watched, not live", true, func(c *sessionCache) { c.put("t", sess("i"), c.begin()) }, false},
		{"watched, live", true, func(c *sessionCache) {
			c.SessionsWatched(true)
			c.put("t", sess("i"), c.begin())
		}, true},
		{"watched, then lost", true, func(c *sessionCache) {
			c.SessionsWatched(true)
			c.put("t", sess("i"), c.begin())
			c.SessionsWatched(false)
		}, false},
		{"watched, reconnected", true, func(c *sessionCache) {
			c.SessionsWatched(true)
			c.put("t", sess("i"), c.begin())
			c.SessionsWatched(false)
			c.SessionsWatched(true) // changes in between are unknown: start empty
		}, false},
		{"watched, lost during lookup", true, func(c *sessionCache) {
			c.SessionsWatched(true)
			seq := c.begin()
			c.SessionsWatched(false)
			c.SessionsWatched(true)
			c.put("t", sess("i"), seq)
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newSessionCache(10, time.Second, clock, tc.watched)
			tc.run(c)
			if _, ok := c.get("t"); ok != tc.want {
				t.Fatalf("hit = %v, want %v", ok, tc.want)
			}
		})
	}
}

func TestSessionCacheEvicts(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newSessionCache(2, time.Minute, func() time.Time { return now }, false)
	for _, id := range []string{"a", "b", "c"} {
		c.put("t"+id, domain.Session{ID: id, ExpiresAt: now.Add(time.Hour)}, c.begin())
	}
	if _, ok := c.get("ta"); ok {
		t.Fatal("oldest entry kept beyond capacity")
	}
	if _, ok := c.get("tc"); !ok {
		t.Fatal("newest entry evicted")
	}
	c.put("tc2", domain.Session{ID: "c", ExpiresAt: now.Add(time.Hour)}, c.begin()) // same session, new token
	if _, ok := c.get("tc"); ok {
		t.Fatal("an id maps to two tokens")
	}
	if len(c.byID) != len(c.byToken) || len(c.byID) != c.order.Len() {
		t.Fatalf("indexes disagree: %d ids, %d tokens, %d entries", len(c.byID), len(c.byToken), c.order.Len())
	}
}
