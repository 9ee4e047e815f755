package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/redis"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testenv"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

// inModes runs f as a subtest in every Redis mode (single node, cluster, Sentinel); a
// mode whose deployment the environment does not name is skipped (see testenv).
func inModes(t *testing.T, f func(t *testing.T, m testenv.RedisMode)) {
	for _, m := range testenv.RedisModes() {
		t.Run(m.Name, func(t *testing.T) {
			m.Need(t)
			f(t, m)
		})
	}
}

// openIn opens a Store in mode m on a fresh prefix, with opts' other fields.
func openIn(t *testing.T, m testenv.RedisMode, opts redis.Options) *redis.Store {
	t.Helper()
	opts.Addr, opts.Addrs, opts.MasterName = m.Addr, m.Addrs, m.MasterName
	if opts.Prefix == "" {
		opts.Prefix = m.Prefix(t)
	}
	s, err := redis.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if want := map[string]string{"single": redis.ModeSingle, "cluster": redis.ModeCluster, "sentinel": redis.ModeSentinel}[m.Name]; s.Mode() != want {
		t.Fatalf("Mode() = %q, want %q", s.Mode(), want)
	}
	return s
}

func TestSharedLimiter(t *testing.T) { inModes(t, testSharedLimiter) }

func testSharedLimiter(t *testing.T, m testenv.RedisMode) {
	a, b := openIn(t, m, redis.Options{}), openIn(t, m, redis.Options{})
	b2 := redis.New(b.Client(), a.Prefix()) // a second instance on a's prefix
	ctx := context.Background()
	lim := domain.Limit{Rate: 2, Burst: 2}
	for i, s := range []*redis.Store{a, b2} {
		if d, err := s.Allow(ctx, "r:1", lim); err != nil || !d.Allowed {
			t.Fatalf("call %d: %+v %v", i, d, err)
		}
	}
	d, err := a.Allow(ctx, "r:1", lim)
	if err != nil || d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > time.Second/2 {
		t.Fatalf("third call shared across instances: %+v %v, want denied with 0 < RetryAfter <= 500ms", d, err)
	}
	if d, _ := b.Allow(ctx, "r:1", lim); !d.Allowed {
		t.Fatal("another prefix shares the bucket")
	}
	if _, err := a.Allow(ctx, "k", domain.Limit{Rate: 0, Burst: 1}); err == nil {
		t.Fatal("zero rate accepted")
	}
}

// TestSharedLimiterPeek: Peek reads a bucket without taking a token or creating it (the
// failed-login throttle peeks before a password check and takes a token on failure).
func TestSharedLimiterPeek(t *testing.T) {
	inModes(t, func(t *testing.T, m testenv.RedisMode) { testSharedLimiterPeek(t, openIn(t, m, redis.Options{})) })
}

func testSharedLimiterPeek(t *testing.T, s *redis.Store) {
	ctx := context.Background()
	lim := domain.Limit{Rate: 5, Burst: 2}
	for range 3 {
		if d, err := s.Peek(ctx, "login:u", lim); err != nil || !d.Allowed {
			t.Fatalf("peek at a fresh bucket: %+v %v", d, err)
		}
	}
	if n, err := s.Client().Exists(ctx, "rate:"+s.Prefix()+"rl:login:u").Result(); err != nil || n != 0 {
		t.Fatalf("peek created the bucket: exists=%d %v", n, err)
	}
	for i := range 2 {
		if d, err := s.Allow(ctx, "login:u", lim); err != nil || !d.Allowed {
			t.Fatalf("take %d: %+v %v", i, d, err)
		}
	}
	d, err := s.Peek(ctx, "login:u", lim)
	if err != nil || d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > time.Second/5 {
		t.Fatalf("peek at an empty bucket: %+v %v, want denied with 0 < RetryAfter <= 200ms", d, err)
	}
	if d2, _ := s.Peek(ctx, "login:u", lim); d2.Allowed || d2.RetryAfter > d.RetryAfter {
		t.Fatalf("a peek took a token: second peek %+v after %+v", d2, d)
	}
	if _, err := s.Peek(ctx, "k", domain.Limit{Rate: 1, Burst: 0}); err == nil {
		t.Fatal("zero burst accepted")
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts redis.Options
		want string
	}{
		{"nothing", redis.Options{}, "address is empty"},
		{"addr and addrs", redis.Options{Addr: "127.0.0.1:1", Addrs: []string{"127.0.0.1:2"}}, "both Addr and Addrs"},
		{"master name alone", redis.Options{MasterName: "m"}, "needs the sentinels"},
		{"db on a cluster", redis.Options{Addrs: []string{"127.0.0.1:1"}, DB: 1}, "database 0 only"},
		{"closed port", redis.Options{Addr: "127.0.0.1:1"}, "connecting to 127.0.0.1:1 (single)"},
		{"closed cluster", redis.Options{Addrs: []string{"127.0.0.1:1"}}, "(cluster)"},
		{"closed sentinels", redis.Options{Addrs: []string{"127.0.0.1:1"}, MasterName: "m"}, "(sentinel)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			s, err := redis.Open(ctx, tc.opts)
			if err == nil {
				s.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestPing(t *testing.T) {
	inModes(t, func(t *testing.T, m testenv.RedisMode) {
		if err := openIn(t, m, redis.Options{}).Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// TestReads checks values and sessions read back correctly from many goroutines at once,
// with reads autopipelined once several are in flight (the default: whichever of these 32
// goroutines find 4 others in flight take that path; TestHotRouting
// checks the routing itself) and with one round trip each.
func TestReads(t *testing.T) { inModes(t, testReads) }

func testReads(t *testing.T, m testenv.RedisMode) {
	for _, tc := range []struct {
		name    string
		disable bool
	}{{"autopipeline", false}, {"plain", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := openIn(t, m, redis.Options{DisableAutoPipeline: tc.disable})
			ctx := context.Background()
			const n = 32
			for i := range n {
				if err := s.Put(ctx, int64(i), "k", []byte(strconv.Itoa(i))); err != nil {
					t.Fatal(err)
				}
				sess := domain.Session{ID: "id" + strconv.Itoa(i), UserID: int64(i), Username: "u" + strconv.Itoa(i), ExpiresAt: time.Now().Add(time.Hour).Truncate(time.Millisecond)}
				if err := s.CreateSession(ctx, sess); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 20 {
						v, err := s.Get(ctx, int64(i), "k")
						if err != nil || string(v) != strconv.Itoa(i) {
							errs <- fmt.Errorf("user %d: Get = %q, %v", i, v, err)
							return
						}
						sess, err := s.SessionByID(ctx, "id"+strconv.Itoa(i))
						if err != nil || sess.UserID != int64(i) || sess.Username != "u"+strconv.Itoa(i) {
							errs <- fmt.Errorf("session %d: %+v, %v", i, sess, err)
							return
						}
						if _, err := s.Get(ctx, int64(i), "missing"); !errors.Is(err, domain.ErrKeyNotExist) {
							errs <- fmt.Errorf("missing key: %v, want ErrKeyNotExist", err)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// TestKVAndSessions: values and sessions written, read, deleted in every mode; on a
// cluster, one user's values share a slot and different users' spread over the masters.
func TestKVAndSessions(t *testing.T) { inModes(t, testKVAndSessions) }

func testKVAndSessions(t *testing.T, m testenv.RedisMode) {
	s := openIn(t, m, redis.Options{})
	ctx := context.Background()
	for uid := range int64(20) {
		for _, k := range []string{"a", "b"} {
			if err := s.Put(ctx, uid, k, []byte(k+strconv.FormatInt(uid, 10))); err != nil {
				t.Fatal(err)
			}
		}
	}
	for uid := range int64(20) {
		if v, err := s.Get(ctx, uid, "b"); err != nil || string(v) != "b"+strconv.FormatInt(uid, 10) {
			t.Fatalf("Get(%d, b) = %q, %v", uid, v, err)
		}
	}
	if err := s.Delete(ctx, 3, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, 3, "a"); !errors.Is(err, domain.ErrKeyNotExist) {
		t.Fatalf("second Delete: %v, want ErrKeyNotExist", err)
	}
	if _, err := s.Get(ctx, 3, "a"); !errors.Is(err, domain.ErrKeyNotExist) {
		t.Fatalf("Get after Delete: %v, want ErrKeyNotExist", err)
	}
	sess := domain.Session{ID: "t1", UserID: 3, Username: "u3", ExpiresAt: time.Now().Add(time.Hour).Truncate(time.Millisecond)}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if got, err := s.SessionByID(ctx, "t1"); err != nil || !got.ExpiresAt.Equal(sess.ExpiresAt) || got.Username != "u3" {
		t.Fatalf("SessionByID = %+v, %v", got, err)
	}
	if err := s.DeleteSession(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByID(ctx, "t1"); !errors.Is(err, domain.ErrSessionNotFound) {
		t.Fatalf("SessionByID after DeleteSession: %v", err)
	}
	cc, ok := s.Client().(*goredis.ClusterClient)
	if !ok {
		return
	}
	masters := map[string]bool{}
	for uid := range int64(20) {
		var slots [2]int64
		for i, k := range []string{"a", "b"} {
			slot, err := cc.ClusterKeySlot(ctx, s.Prefix()+"kv:{"+strconv.FormatInt(uid, 10)+"}:"+k).Result()
			if err != nil {
				t.Fatal(err)
			}
			slots[i] = slot
		}
		if slots[0] != slots[1] {
			t.Fatalf("user %d's keys in slots %v, want one", uid, slots)
		}
		node, err := cc.MasterForKey(ctx, s.Prefix()+"kv:{"+strconv.FormatInt(uid, 10)+"}:a")
		if err != nil {
			t.Fatal(err)
		}
		masters[node.Options().Addr] = true
	}
	if len(masters) != len(m.Addrs) {
		t.Fatalf("20 users' values on %d masters, want %d", len(masters), len(m.Addrs))
	}
}
