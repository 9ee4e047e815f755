package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/mysql"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/redis"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testenv"
)

// instance is one etserver's use cases on MySQL+Redis with the shared Redis limiter.
func instance(t *testing.T, dsn, addr, prefix string) *app.Service {
	t.Helper()
	ctx := context.Background()
	ms, err := mysql.Open(ctx, mysql.Options{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	if _, err := ms.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rs, err := redis.Open(ctx, redis.Options{Addr: addr, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	svc, err := app.New(app.Options{Accounts: ms, Quotas: ms, Sessions: rs, KV: rs, Limiter: rs, PasswordParams: cheap})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestTwoInstancesMySQLRedis: two services on one MySQL and Redis share users, sessions,
// values and (with the Redis limiter) quotas; a restarted one keeps everything.
func TestTwoInstancesMySQLRedis(t *testing.T) {
	dsn, addr := testenv.MySQLDSN(t), testenv.RedisAddr(t)
	prefix := testenv.RedisPrefix(t, addr)
	a, b := instance(t, dsn, addr, prefix), instance(t, dsn, addr, prefix)
	ctx := context.Background()
	ms, err := mysql.Open(ctx, mysql.Options{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	if res, err := app.Seed(ctx, ms, app.SeedOptions{Users: 3, InsecureFastHashes: true}); err != nil || res.Created != 3 {
		t.Fatalf("Seed: %+v %v", res, err)
	}
	login, err := a.Login(ctx, "1", "1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Login(ctx, "1", "wrong"); err != domain.ErrIncorrectCredentials {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := b.Login(ctx, "404", "404"); err != domain.ErrIncorrectCredentials {
		t.Fatalf("unknown user: %v", err)
	}
	p, err := b.Authenticate(ctx, login.Token, "1") // session made on a, checked on b
	if err != nil {
		t.Fatalf("session not shared: %v", err)
	}
	if err := b.Write(ctx, p, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, err := a.Read(ctx, p, "k"); err != nil || string(v) != "v" {
		t.Fatalf("value not shared: %q %v", v, err)
	}
	// User 1 reads 6/s with burst 1: one instance's call empties the shared bucket.
	if err := a.CheckQuota(ctx, p, domain.OpRead); err != nil {
		t.Fatal(err)
	}
	var qe *domain.QuotaExceededError
	if err := b.CheckQuota(ctx, p, domain.OpRead); !errors.As(err, &qe) || qe.RetryAfter <= 0 {
		t.Fatalf("quota not shared: %v", err)
	}
	c := instance(t, dsn, addr, prefix) // a restart
	if v, err := c.Read(ctx, p, "k"); err != nil || string(v) != "v" {
		t.Fatalf("after restart: %q %v", v, err)
	}
	if err := c.Logout(ctx, login.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, login.Token, ""); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("logout not shared: %v", err)
	}
}
