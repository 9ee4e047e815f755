package redis_test

import (
	"context"
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
