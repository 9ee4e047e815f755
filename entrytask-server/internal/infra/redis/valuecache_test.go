package redis

import (
	"bytes"
	"strings"
	"testing"
)

// TestValueCacheLRU: entries count key + value + ValueEntryOverhead bytes, the least
// recently used go first once the budget is exceeded, a value over a quarter of the budget
// is never stored, and replacing a key counts it once. No server is needed.
func TestValueCacheLRU(t *testing.T) {
	const budget = 4 * (ValueEntryOverhead + 100) // four entries of a 1-byte key and a 99-byte value
	c := newValueCache(budget)
	c.watched(true)
	val := func(b byte) []byte { return bytes.Repeat([]byte{b}, 99) }
	fill := func(key string, v []byte) {
		t.Helper()
		_, hit, seq := c.lookup(key)
		if hit {
			t.Fatalf("%s: hit before it was stored", key)
		}
		c.put(key, v, seq)
	}
	for _, k := range []string{"a", "b", "c", "d"} {
		fill(k, val(k[0]))
	}
	if n, used := entriesBytes(c); n != 4 || used != budget {
		t.Fatalf("after four entries: %d entries, %d bytes, want 4, %d", n, used, budget)
	}
	if v, hit, _ := c.lookup("a"); !hit || !bytes.Equal(v, val('a')) { // a is now the most recent
		t.Fatalf("lookup a: %q %v", v, hit)
	}
	fill("e", val('e')) // evicts b, the least recently used
	if _, hit, _ := c.lookup("b"); hit {
		t.Fatal("b not evicted")
	}
	for _, k := range []string{"a", "c", "d", "e"} {
		if _, hit, _ := c.lookup(k); !hit {
			t.Fatalf("%s evicted, want b only", k)
		}
	}
	if n, used := entriesBytes(c); n != 4 || used > budget {
		t.Fatalf("after the eviction: %d entries, %d bytes, want 4 within %d", n, used, budget)
	}

	// A value over budget/4 is not stored; one of exactly budget/4 is (evicting others).
	big := make([]byte, budget/4+1)
	_, _, seq := c.lookup("big")
	c.put("big", big, seq)
	if _, hit, _ := c.lookup("big"); hit {
		t.Fatal("a value over a quarter of the budget was stored")
	}
	fill("q", make([]byte, budget/4))
	if _, hit, _ := c.lookup("q"); !hit {
		t.Fatal("a value of a quarter of the budget was not stored")
	}
	if _, used := entriesBytes(c); used > budget {
		t.Fatalf("%d bytes held, over the budget %d", used, budget)
	}

	// Two misses of one key both storing (concurrent Gets) count it once.
	c.watched(true) // empties it
	_, _, seq1 := c.lookup("r")
	_, _, seq2 := c.lookup("r")
	c.put("r", val('1'), seq1)
	c.put("r", val('2'), seq2)
	if n, used := entriesBytes(c); n != 1 || used != 1+99+ValueEntryOverhead {
		t.Fatalf("after replacing: %d entries, %d bytes", n, used)
	}
	if v, _, _ := c.lookup("r"); !bytes.Equal(v, val('2')) {
		t.Fatalf("replaced value %q", v)
	}
}

// TestValueCacheCoherence: nothing is stored or answered while not live; a change (own
// write, invalidation, watch state) between a miss and its store keeps the value out;
// invalidations of other prefixes leave the sequence alone.
func TestValueCacheCoherence(t *testing.T) {
	c := newValueCache(1 << 20)
	v1 := []byte("v1")

	_, _, seq := c.lookup("et:kv:{1}:k")
	c.put("et:kv:{1}:k", v1, seq)
	if n, _ := entriesBytes(c); n != 0 {
		t.Fatal("stored while not live")
	}
	c.watched(true)
	_, _, seq = c.lookup("et:kv:{1}:k")
	c.put("et:kv:{1}:k", v1, seq)
	c.watched(false)
	if _, hit, _ := c.lookup("et:kv:{1}:k"); hit {
		t.Fatal("answered while not live")
	}

	c.watched(true)
	for _, tc := range []struct {
		name   string
		change func()
		stored bool
	}{
		{"no change", func() {}, true},
		{"own write", func() { c.changed("et:kv:{1}:k") }, false},
		{"own write of another key", func() { c.changed("et:kv:{1}:other") }, false}, // conservative
		{"invalidation", func() { c.invalidate([]string{"et:kv:{1}:k"}, "et:kv:") }, false},
		{"invalidation of a session only", func() { c.invalidate([]string{"et:s:abc"}, "et:kv:") }, true},
		{"watch lost and back", func() { c.watched(false); c.watched(true) }, false},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			c.changed("et:kv:{1}:k") // start uncached
			_, hit, seq := c.lookup("et:kv:{1}:k")
			if hit {
				t.Fatal("hit after changed")
			}
			tc.change()
			c.put("et:kv:{1}:k", v1, seq)
			if _, hit, _ := c.lookup("et:kv:{1}:k"); hit != tc.stored {
				t.Fatalf("stored = %v, want %v", hit, tc.stored)
			}
		})
	}
	// A stored entry goes on its invalidation and on the own write.
	for _, drop := range []func(){
		func() { c.invalidate([]string{"et:s:x", "et:kv:{1}:k"}, "et:kv:") },
		func() { c.changed("et:kv:{1}:k") },
	} {
		_, _, seq := c.lookup("et:kv:{1}:k")
		c.put("et:kv:{1}:k", v1, seq)
		drop()
		if _, hit, _ := c.lookup("et:kv:{1}:k"); hit {
			t.Fatal("entry kept after its change")
		}
	}
}

// entriesBytes returns what c holds: entries and the bytes they count.
func entriesBytes(c *valueCache) (int, int64) {
	st := c.snapshot()
	return st.Entries, st.Bytes
}

// TestValueCacheCounters: hits, misses, evictions and invalidations as ValueCacheStats
// reports them.
func TestValueCacheCounters(t *testing.T) {
	const budget = 4 * (ValueEntryOverhead + 1 + 99)
	c := newValueCache(budget)
	c.watched(true)
	fill := func(k string) {
		_, hit, seq := c.lookup(k)
		if !hit {
			c.put(k, make([]byte, 99), seq)
		}
	}
	for _, k := range []string{"a", "b", "c", "d", "a", "e"} { // 5 misses, 1 hit; e evicts b
		fill(k)
	}
	c.changed("a")                   // own write: a dropped
	c.invalidate([]string{"c"}, "")  // the watch: c dropped
	c.invalidate([]string{"zz"}, "") // not cached: nothing dropped
	st := c.snapshot()
	want := ValueCacheStats{Hits: 1, Misses: 5, Evictions: 1, Invalidations: 2, Entries: 2,
		Bytes: 2 * (ValueEntryOverhead + 1 + 99), Budget: budget, Live: true}
	if st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
	c.watched(false) // the watch lost: the 2 entries go
	st = c.snapshot()
	if st.Invalidations != 4 || st.Entries != 0 || st.Live {
		t.Fatalf("after the watch was lost: %+v", st)
	}
}
