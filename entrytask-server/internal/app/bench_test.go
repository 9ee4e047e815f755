package app_test

import (
	"context"
	"testing"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/ratelimit"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/redis"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testenv"
)

// benchSQLite: a logged-in user on the embedded store (synchronous FULL).
func benchSQLite(b *testing.B) (*app.Service, string, app.Principal) {
	e := newEnvB(b)
	h, _ := domain.HashPassword("pw", cheap)
	if _, err := e.store.CreateUser(context.Background(), "bench", h); err != nil {
		b.Fatal(err)
	}
	res, err := e.svc.Login(context.Background(), "bench", "pw")
	if err != nil {
		b.Fatal(err)
	}
	p, err := e.svc.Authenticate(context.Background(), res.Token, "")
	if err != nil {
		b.Fatal(err)
	}
	return e.svc, res.Token, p
}

func BenchmarkAuthenticateSQLite(b *testing.B) {
	svc, tok, _ := benchSQLite(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Authenticate(ctx, tok, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckQuota(b *testing.B) {
	svc, _, p := benchSQLite(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		svc.CheckQuota(ctx, p, domain.OpRead)
	}
}

func BenchmarkReadSQLite(b *testing.B) {
	svc, _, p := benchSQLite(b)
	ctx := context.Background()
	if err := svc.Write(ctx, p, "key", make([]byte, 2000)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Read(ctx, p, "key"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteSQLite(b *testing.B) {
	svc, _, p := benchSQLite(b)
	ctx := context.Background()
	v := make([]byte, 2000)
	b.ReportAllocs()
	for b.Loop() {
		if err := svc.Write(ctx, p, "key", v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadRedis: Authenticate + CheckQuota + Read, the whole per-call use-case path of a
// read on Redis (sessions, values) with a local limiter.
func BenchmarkReadRedis(b *testing.B) {
	addr := testenv.RedisAddr(b)
	rs, err := redis.Open(context.Background(), redis.Options{Addr: addr, Prefix: testenv.RedisPrefix(b, addr)})
	if err != nil {
		b.Fatal(err)
	}
	defer rs.Close()
	e := newEnvB(b)
	svc, err := app.New(app.Options{Accounts: e.store, Quotas: e.store, Sessions: rs, KV: rs,
		Limiter: ratelimit.NewLocal(ratelimit.Options{}), PasswordParams: cheap,
		DefaultQuota: domain.Quota{Read: domain.MaxQuota, Write: domain.MaxQuota}})
	if err != nil {
		b.Fatal(err)
	}
	h, _ := domain.HashPassword("pw", cheap)
	e.store.CreateUser(context.Background(), "bench", h)
	ctx := context.Background()
	res, err := svc.Login(ctx, "bench", "pw")
	if err != nil {
		b.Fatal(err)
	}
	p, _ := svc.Authenticate(ctx, res.Token, "")
	if err := svc.Write(ctx, p, "key", make([]byte, 2000)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := svc.Authenticate(ctx, res.Token, "bench")
		if err != nil {
			b.Fatal(err)
		}
		svc.CheckQuota(ctx, p, domain.OpRead)
		if _, err := svc.Read(ctx, p, "key"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLogin compares a wrong password with an unknown user: both must cost one
// password derivation at the same parameters (here the cheap test parameters, used for the
// user's hash and the dummy hash alike), so their timings should match.
func BenchmarkLogin(b *testing.B) {
	cases := []struct{ name, username, password string }{
		{"WrongPassword", "bench", "wrong"},
		{"UnknownUser", "nobody", "wrong"},
		{"OK", "bench", "pw"},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			e := newEnvTB(b, func(o *app.Options) { o.LoginRate, o.LoginBurst = 1<<30, 1<<30 })
			h, _ := domain.HashPassword("pw", cheap)
			if _, err := e.store.CreateUser(context.Background(), "bench", h); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				e.svc.Login(ctx, tc.username, tc.password)
			}
		})
	}
}
