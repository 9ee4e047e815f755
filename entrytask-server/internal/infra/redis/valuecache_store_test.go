package redis_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/redis"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testenv"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testkit"
)

// getCounter is a go-redis hook counting the GET commands a client sends, one by one or
// pipelined: a Get answered by the value cache sends none.
type getCounter struct{ n atomic.Int64 }

func (c *getCounter) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (c *getCounter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if cmd.Name() == "get" {
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (c *getCounter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		for _, cmd := range cmds {
			if cmd.Name() == "get" {
				c.n.Add(1)
			}
		}
		return next(ctx, cmds)
	}
}

// valueEvents records the value cache's reports: "watched", "lost", "invalidated k1 k2".
type valueEvents chan string

// waitFor returns once an event equal to want arrives, failing after a deadline; other
// events are skipped.
func (e valueEvents) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-e:
			if ev == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %q from the value cache within 10s", want)
		}
	}
}

// valueFixture is a Store with the value cache on, its watch running, and another
// instance's plain client on the same Redis.
type valueFixture struct {
	s      *redis.Store
	gets   *getCounter
	events valueEvents
	other  goredis.UniversalClient // another instance: plain SET and DEL
	// hold, when set, is waited on by the watch right after it reported "lost", before it
	// reconnects: the test holds the watch down until it closes the channel.
	hold atomic.Pointer[chan struct{}]
}

// holdWatch makes the watch wait, after its next "lost" report, until release is called
// (at most once has effect; call it also when the test fails, so the watch can stop).
func (f *valueFixture) holdWatch() (release func()) {
	hold := make(chan struct{})
	var once sync.Once
	f.hold.Store(&hold)
	return func() { once.Do(func() { f.hold.Store(nil); close(hold) }) }
}

// newValueFixture opens a Store with opts (ValueCacheBytes set), counts its GETs and
// starts its watch (WatchValues, or WatchSessions with sessions when not nil), waiting
// until the cache is live. The watch stops when the test ends.
func newValueFixture(t *testing.T, m testenv.RedisMode, opts redis.Options, sessions observer) *valueFixture {
	t.Helper()
	f := &valueFixture{s: openIn(t, m, opts), gets: &getCounter{}, events: make(valueEvents, 1000)}
	f.s.Client().AddHook(f.gets)
	send := func(ev string) {
		select {
		case f.events <- ev:
		default: // a test that stopped reading must not block the watch
		}
	}
	redis.SetValueCacheHooks(f.s, func(on bool) {
		if on {
			send("watched")
			return
		}
		send("lost")
		if hold := f.hold.Load(); hold != nil {
			<-*hold
		}
	}, func(keys []string) { send("invalidated " + strings.Join(keys, " ")) })
	f.other = m.Client()
	t.Cleanup(func() { f.other.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		if sessions != nil {
			done <- f.s.WatchSessions(ctx, sessions)
		} else {
			done <- f.s.WatchValues(ctx)
		}
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("watch: %v, want context.Canceled", err)
		}
	})
	f.events.waitFor(t, "watched")
	return f
}

// key returns the Redis key of user 7's key k.
func (f *valueFixture) key(k string) string { return f.s.Prefix() + "kv:{7}:" + k }

// set writes k through the other instance and waits until its invalidation was applied.
func (f *valueFixture) set(t *testing.T, k, v string) {
	t.Helper()
	if err := f.other.Set(context.Background(), f.key(k), v, 0).Err(); err != nil {
		t.Fatal(err)
	}
	f.events.waitFor(t, "invalidated "+f.key(k))
}

// del deletes k through the other instance and waits until its invalidation was applied.
func (f *valueFixture) del(t *testing.T, k string) {
	t.Helper()
	if err := f.other.Del(context.Background(), f.key(k)).Err(); err != nil {
		t.Fatal(err)
	}
	f.events.waitFor(t, "invalidated "+f.key(k))
}

// get reads k and checks the value (want "" with absent: ErrKeyNotExist) and whether the
// read went to Redis.
func (f *valueFixture) get(t *testing.T, k, want string, absent, fromRedis bool) {
	t.Helper()
	before := f.gets.n.Load()
	v, err := f.s.Get(context.Background(), 7, k)
	switch {
	case absent && !errors.Is(err, domain.ErrKeyNotExist):
		t.Fatalf("Get %s: %q %v, want ErrKeyNotExist", k, v, err)
	case !absent && (err != nil || string(v) != want):
		t.Fatalf("Get %s: %q %v, want %q", k, v, err, want)
	}
	if sent := f.gets.n.Load() - before; sent != map[bool]int64{true: 1, false: 0}[fromRedis] {
		t.Fatalf("Get %s sent %d GETs to Redis, want from Redis = %v", k, sent, fromRedis)
	}
}

// TestValueCache: a cached value is served without a Redis round trip; another
// instance's SET and DEL invalidate it; this instance's Put and Delete are seen by its
// next Get at once; a missing key is never cached.
func TestValueCache(t *testing.T) {
	inModes(t, func(t *testing.T, m testenv.RedisMode) {
		f := newValueFixture(t, m, redis.Options{ValueCacheBytes: 1 << 20}, nil)
		testValueCache(t, f)
		testValueCacheEveryMaster(t, f)
	})
}

// testValueCacheEveryMaster: the value keys of users on every master (of a cluster; the
// one node otherwise) are reported.
func testValueCacheEveryMaster(t *testing.T, f *valueFixture) {
	ctx := context.Background()
	masters := map[string]bool{}
	for uid := int64(1); uid <= 30; uid++ {
		key := f.s.Prefix() + "kv:{" + strconv.FormatInt(uid, 10) + "}:k"
		if err := f.other.Set(ctx, key, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		f.events.waitFor(t, "invalidated "+key)
		cc, ok := f.other.(*goredis.ClusterClient)
		if !ok {
			return
		}
		node, err := cc.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		masters[node.Options().Addr] = true
		if n, err := clusterMasterCount(ctx, cc); err != nil {
			t.Fatal(err)
		} else if len(masters) == n {
			return
		}
	}
	t.Fatalf("30 users' keys reached only %d masters", len(masters))
}

// clusterMasterCount returns how many masters serve slots.
func clusterMasterCount(ctx context.Context, cc *goredis.ClusterClient) (int, error) {
	var n atomic.Int64
	err := cc.ForEachMaster(ctx, func(context.Context, *goredis.Client) error { n.Add(1); return nil })
	return int(n.Load()), err
}

// TestValueCacheWithSessionWatch: with the value cache on, WatchSessions covers the value
// keys on the same connection, and still reports sessions.
func TestValueCacheWithSessionWatch(t *testing.T) {
	inModes(t, func(t *testing.T, m testenv.RedisMode) {
		obs := make(observer, 100)
		f := newValueFixture(t, m, redis.Options{ValueCacheBytes: 1 << 20}, obs)
		if ev := obs.next(t, true); ev != "watched" {
			t.Fatalf("session observer: %q, want watched", ev)
		}
		testValueCache(t, f)
		sess := domain.Session{ID: "s1", UserID: 7, Username: "u", ExpiresAt: time.Now().Add(time.Hour)}
		if err := redis.New(f.other, f.s.Prefix()).CreateSession(context.Background(), sess); err != nil {
			t.Fatal(err)
		}
		if ev := obs.next(t, false); ev != "changed s1" {
			t.Fatalf("after CreateSession: %q, want changed s1", ev)
		}
	})
}

func testValueCache(t *testing.T, f *valueFixture) {
	f.set(t, "k", "v1")
	f.get(t, "k", "v1", false, true)
	f.get(t, "k", "v1", false, false) // cached
	f.get(t, "k", "v1", false, false)

	f.set(t, "k", "v2") // another instance's SET
	f.get(t, "k", "v2", false, true)
	f.get(t, "k", "v2", false, false)

	f.del(t, "k") // another instance's DEL
	f.get(t, "k", "", true, true)
	f.get(t, "k", "", true, true) // a missing key is not cached

	// This instance's writes: seen at once, whenever their invalidation arrives.
	ctx := context.Background()
	f.set(t, "k", "v3")
	f.get(t, "k", "v3", false, true)
	if err := f.s.Put(ctx, 7, "k", []byte("v4")); err != nil {
		t.Fatal(err)
	}
	f.get(t, "k", "v4", false, true)
	if err := f.s.Delete(ctx, 7, "k"); err != nil {
		t.Fatal(err)
	}
	f.get(t, "k", "", true, true)

	// Empty values are cached too.
	f.set(t, "e", "")
	f.get(t, "e", "", false, true)
	f.get(t, "e", "", false, false)
}

// TestValueCacheFillRace: a change reported between a missed Get's Redis read and its
// store into the cache (another instance's SET, or this instance's Put) keeps the value
// read out of the cache: the next Get reads Redis and sees the new value.
func TestValueCacheFillRace(t *testing.T) {
	inModes(t, func(t *testing.T, m testenv.RedisMode) {
		f := newValueFixture(t, m, redis.Options{ValueCacheBytes: 1 << 20}, nil)
		ctx := context.Background()
		for _, tc := range []struct {
			name   string
			change func(t *testing.T, k string)
		}{
			{"another instance SETs", func(t *testing.T, k string) { f.set(t, k, "new") }},
			{"this instance Puts", func(t *testing.T, k string) {
				if err := f.s.Put(ctx, 7, k, []byte("new")); err != nil {
					t.Fatal(err)
				}
				// Its invalidation comes too; wait for it so that it cannot drop the
				// entry the Gets below fill (TestValueCacheCoherence checks the Put's
				// own change report without one).
				f.events.waitFor(t, "invalidated "+f.key(k))
			}},
		} {
			t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
				k := "race-" + testenv.Random(4)
				f.set(t, k, "old")
				armed := true
				redis.SetFillHook(f.s, func(key string) {
					if armed && key == f.key(k) {
						armed = false
						tc.change(t, k)
					}
				})
				defer redis.SetFillHook(f.s, nil)
				f.get(t, k, "old", false, true) // read before the change: returned, not cached
				if armed {
					t.Fatal("the fill hook did not run")
				}
				f.get(t, k, "new", false, true)
				f.get(t, k, "new", false, false)
			})
		}
	})
}

// TestValueCacheWatchLost: while the watch connection is lost (CLIENT KILL; the test
// holds the watch down) every Get reads Redis and nothing is cached; once it is back the
// cache fills and answers again.
func TestValueCacheWatchLost(t *testing.T) {
	inModes(t, func(t *testing.T, m testenv.RedisMode) {
		f := newValueFixture(t, m, redis.Options{ValueCacheBytes: 1 << 20}, nil)
		f.set(t, "k", "v1")
		f.get(t, "k", "v1", false, true)
		f.get(t, "k", "v1", false, false)

		release := f.holdWatch()
		defer release() // also when the test fails: the watch must be able to stop
		killed, nodes := killWatch(t, f.other, redis.WatchClientName(f.s.Prefix()))
		if killed != nodes {
			t.Fatalf("%d watch connections on %d nodes, want one per node", killed, nodes)
		}
		f.events.waitFor(t, "lost")
		f.get(t, "k", "v1", false, true) // bypassed
		f.get(t, "k", "v1", false, true) // and nothing stored
		// Another instance's write while lost (no invalidation arrives) is read from Redis.
		if err := f.other.Set(context.Background(), f.key("k"), "v2", 0).Err(); err != nil {
			t.Fatal(err)
		}
		f.get(t, "k", "v2", false, true)
		if n, _, _ := cacheCounts(f.s); n != 0 {
			t.Fatalf("%d values cached while the watch was lost", n)
		}

		release()
		f.events.waitFor(t, "watched")
		f.get(t, "k", "v2", false, true) // emptied: fills again
		f.get(t, "k", "v2", false, false)
	})
}

// TestValueCacheBudget: the store keeps at most ValueCacheBytes of entries (key + value +
// ValueEntryOverhead each), evicting the least recently used, and never caches a value
// over a quarter of it.
func TestValueCacheBudget(t *testing.T) {
	inModes(t, func(t *testing.T, m testenv.RedisMode) {
		prefix := m.Prefix(t)
		const valLen = 100
		entry := int64(len(prefix+"kv:{7}:k0") + valLen + redis.ValueEntryOverhead)
		budget := 4 * entry
		f := newValueFixture(t, m, redis.Options{Prefix: prefix, ValueCacheBytes: budget}, nil)
		s, ctx := f.s, context.Background()

		val := strings.Repeat("v", valLen)
		keys := []string{"k0", "k1", "k2", "k3", "k4", "k5"}
		for _, k := range keys {
			if err := s.Put(ctx, 7, k, []byte(val)); err != nil {
				t.Fatal(err)
			}
			f.events.waitFor(t, "invalidated "+f.key(k)) // so that it cannot drop a later fill
		}
		// Fill k0..k5 in order: only the last four stay.
		for i, k := range keys {
			f.get(t, k, val, false, true)
			n, used, _ := cacheCounts(s)
			if used > budget || n != min(i+1, 4) {
				t.Fatalf("after filling %s: %d entries, %d bytes; want %d within %d", k, n, used, min(i+1, 4), budget)
			}
		}
		f.get(t, "k5", val, false, false)
		f.get(t, "k2", val, false, false)
		f.get(t, "k0", val, false, true) // evicted: reads Redis, evicting k3 (least recently used)
		f.get(t, "k2", val, false, false)
		f.get(t, "k3", val, false, true)

		big := bytes.Repeat([]byte("b"), int(budget/4)+1)
		if err := s.Put(ctx, 7, "big", big); err != nil {
			t.Fatal(err)
		}
		f.get(t, "big", string(big), false, true)
		f.get(t, "big", string(big), false, true) // never cached
	})
}

// TestValueCacheOff: without ValueCacheBytes there is no cache: every Get reads Redis and
// WatchValues refuses to run; a negative budget is an error.
func TestValueCacheOff(t *testing.T) {
	inModes(t, func(t *testing.T, m testenv.RedisMode) {
		s := openIn(t, m, redis.Options{})
		if _, _, on := cacheCounts(s); on {
			t.Fatal("value cache created by default")
		}
		if err := s.WatchValues(context.Background()); err == nil || !strings.Contains(err.Error(), "value cache is off") {
			t.Fatalf("WatchValues without a cache: %v", err)
		}
		f := &valueFixture{s: s, gets: &getCounter{}}
		s.Client().AddHook(f.gets)
		if err := s.Put(context.Background(), 7, "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		f.get(t, "k", "v", false, true)
		f.get(t, "k", "v", false, true)

		opts := redis.Options{Addr: m.Addr, Addrs: m.Addrs, MasterName: m.MasterName, ValueCacheBytes: -1}
		if s, err := redis.Open(context.Background(), opts); err == nil {
			s.Close()
			t.Fatal("Open accepted a negative ValueCacheBytes")
		}
	})
}

// TestValueCacheFlushAll: a key-less invalidation (FLUSHALL) empties and bypasses the
// cache until the watch is back. FLUSHALL would wipe the shared test Redis, so the test
// runs its own redis-server (from PATH) on a free loopback port.
func TestValueCacheFlushAll(t *testing.T) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not in PATH (required when CI=true)")
		}
		t.Skip("redis-server is not in PATH; skipping")
	}
	addr := testkit.ClosedAddr(t)
	_, port, _ := strings.Cut(addr, ":")
	srv := testkit.Start(t, exec.Command(path, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", t.TempDir()))
	ctx := testkit.Context(t, 30*time.Second)
	if _, err := srv.WaitLine(ctx, &srv.Stdout, regexp.MustCompile(`Ready to accept connections`)); err != nil {
		t.Fatal(err)
	}
	f := newValueFixture(t, testenv.RedisMode{Name: "single", Addr: addr}, redis.Options{ValueCacheBytes: 1 << 20}, nil)
	f.set(t, "k", "v1")
	f.get(t, "k", "v1", false, true)
	f.get(t, "k", "v1", false, false)

	release := f.holdWatch()
	defer release()
	if err := f.other.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	f.events.waitFor(t, "lost")
	f.get(t, "k", "", true, true) // bypassed: Redis says it is gone
	if err := f.other.Set(ctx, f.key("k"), "v2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	f.get(t, "k", "v2", false, true)
	f.get(t, "k", "v2", false, true) // nothing stored while lost
	release()
	f.events.waitFor(t, "watched")
	f.get(t, "k", "v2", false, true)
	f.get(t, "k", "v2", false, false)
}

// TestValueCacheStrayPublish: a client's PUBLISH to __redis__:invalidate is not Redis's
// own message. An empty payload names no key: the watch stays up and the cache keeps
// answering (it used to take it for FLUSHALL and reconnect, so any client could keep
// every etserver's caches off). A key as a string payload is dropped like a reported one.
func TestValueCacheStrayPublish(t *testing.T) {
	inModes(t, func(t *testing.T, m testenv.RedisMode) {
		f := newValueFixture(t, m, redis.Options{ValueCacheBytes: 1 << 20}, nil)
		ctx := context.Background()
		f.set(t, "k", "v1")
		f.get(t, "k", "v1", false, true)
		f.get(t, "k", "v1", false, false)

		if err := f.other.Publish(ctx, "__redis__:invalidate", "").Err(); err != nil {
			t.Fatal(err)
		}
		// A real invalidation after it: once that is reported, the publish was handled.
		if err := f.other.Set(ctx, f.key("marker"), "m", 0).Err(); err != nil {
			t.Fatal(err)
		}
		deadline := time.After(10 * time.Second)
		for done := false; !done; {
			select {
			case ev := <-f.events:
				switch ev {
				case "lost":
					t.Fatal("an empty PUBLISH to __redis__:invalidate made the watch reconnect")
				case "invalidated " + f.key("marker"):
					done = true
				}
			case <-deadline:
				t.Fatal("no invalidation of the marker key within 10s")
			}
		}
		f.get(t, "k", "v1", false, false) // still cached

		if err := f.other.Publish(ctx, "__redis__:invalidate", f.key("k")).Err(); err != nil {
			t.Fatal(err)
		}
		f.events.waitFor(t, "invalidated "+f.key("k"))
		f.get(t, "k", "v1", false, true) // dropped: read from Redis again
	})
}

// cacheCounts returns what s's value cache holds (entries, bytes) and whether it is on.
func cacheCounts(s *redis.Store) (int, int64, bool) {
	st, ok := s.ValueCacheStats()
	return st.Entries, st.Bytes, ok
}
