package lru_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/lru"
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

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	c := lru.New[string, int](2, 0, nil)
	c.Set("a", 1)
	c.Set("b", 2)
	if v, ok := c.Get("a"); !ok || v != 1 { // a is now most recent
		t.Fatal("a missing")
	}
	c.Set("c", 3) // evicts b
	if _, ok := c.Get("b"); ok {
		t.Fatal("b not evicted")
	}
	for k, want := range map[string]int{"a": 1, "c": 3} {
		if v, ok := c.Get(k); !ok || v != want {
			t.Fatalf("%s = %d %v", k, v, ok)
		}
	}
	c.Set("a", 10)
	if v, _ := c.Get("a"); v != 10 || c.Len() != 2 {
		t.Fatal("replace")
	}
	c.Delete("a")
	if _, ok := c.Get("a"); ok || c.Len() != 1 {
		t.Fatal("delete")
	}
}

func TestTTL(t *testing.T) {
	clk := &clock{now: time.Unix(0, 0)}
	c := lru.New[int, string](10, time.Second, clk.Now)
	c.Set(1, "x")
	clk.Add(999 * time.Millisecond)
	if _, ok := c.Get(1); !ok {
		t.Fatal("expired early")
	}
	clk.Add(time.Millisecond)
	if _, ok := c.Get(1); ok {
		t.Fatal("not expired at TTL")
	}
	if c.Len() != 0 {
		t.Fatal("expired entry kept")
	}
	calls := 0
	mk := func() string { calls++; return "new" }
	if v := c.GetOrSet(2, mk); v != "new" || calls != 1 {
		t.Fatal("GetOrSet miss")
	}
	if v := c.GetOrSet(2, mk); v != "new" || calls != 1 {
		t.Fatal("GetOrSet hit")
	}
}

func TestDefaultCapacity(t *testing.T) {
	c := lru.New[int, int](0, 0, nil)
	for i := range lru.DefaultCapacity + 5 {
		c.Set(i, i)
	}
	if c.Len() != lru.DefaultCapacity {
		t.Fatalf("Len = %d", c.Len())
	}
}

func TestConcurrent(t *testing.T) {
	c := lru.New[string, *int](1000, time.Minute, nil) // room for every key: nothing is evicted
	var wg sync.WaitGroup
	shared := make([]*int, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				k := fmt.Sprint(i % 100)
				c.Set(k, &i)
				c.Get(k)
				c.Delete(fmt.Sprint((i + 1) % 100))
			}
			shared[w] = c.GetOrSet("one", func() *int { v := w; return &v })
		}()
	}
	wg.Wait()
	for _, p := range shared[1:] {
		if p != shared[0] {
			t.Fatal("GetOrSet handed out two values for one key")
		}
	}
}

func BenchmarkGetHit(b *testing.B) {
	c := lru.New[int64, int](1024, time.Minute, nil)
	c.Set(1, 1)
	b.ReportAllocs()
	for b.Loop() {
		c.Get(1)
	}
}
