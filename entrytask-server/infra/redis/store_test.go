package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seed857a6cbd/pocket/entrytask-server/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/redis"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T) *redis.Store {
	t.Helper()
	addr := testenv.RedisAddr(t)
	s, err := redis.Open(context.Background(), redis.Options{Addr: addr, Prefix: testenv.RedisPrefix(t, addr)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSharedLimiter(t *testing.T) {
	a, b := open(t), open(t)
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
	s := open(t)
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
	if _, err := redis.Open(context.Background(), redis.Options{}); err == nil {
		t.Fatal("empty address accepted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := redis.Open(ctx, redis.Options{Addr: "127.0.0.1:1"}); err == nil {
		t.Fatal("connected to a closed port")
	}
}

func TestPing(t *testing.T) {
	if err := open(t).Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestReads checks values and sessions read back correctly from many goroutines at once,
// with reads autopipelined once several are in flight (the default: whichever of these 32
// goroutines find 4 others in flight take that path; TestHotRouting
// checks the routing itself) and with one round trip each.
func TestReads(t *testing.T) {
	for _, tc := range []struct {
		name    string
		disable bool
	}{{"autopipeline", false}, {"plain", true}} {
		t.Run(tc.name, func(t *testing.T) {
			addr := testenv.RedisAddr(t)
			s, err := redis.Open(context.Background(), redis.Options{Addr: addr, Prefix: testenv.RedisPrefix(t, addr), DisableAutoPipeline: tc.disable})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
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
