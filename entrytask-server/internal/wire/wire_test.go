package wire_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seed857a6cbd/pocket/nap"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/config"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/redis"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testenv"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testkit"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/wire"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

func load(t *testing.T, flags map[string]any) config.Config {
	t.Helper()
	cfg, err := config.Load(config.Sources{Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestOpen opens each store, builds the service on it, logs in as a seeded user and
// checks the readiness checks and the session-cache watch of the mode.
func TestOpen(t *testing.T) {
	cases := []struct {
		name   string
		flags  func(t *testing.T) map[string]any
		mode   string
		checks []string
		watch  bool
	}{
		{"embedded", func(t *testing.T) map[string]any { return map[string]any{"data_dir": t.TempDir()} },
			wire.ModeEmbedded, []string{"sqlite"}, false},
		{"mysql+redis", func(t *testing.T) map[string]any {
			addr := testenv.RedisAddr(t)
			return map[string]any{"mysql.dsn": testenv.MySQLDSN(t), "redis.addr": addr,
				"redis.prefix": testenv.RedisPrefix(t, addr)}
		}, wire.ModeMySQLRedis, []string{"mysql", "redis"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := load(t, tc.flags(t))
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			b, err := wire.Open(ctx, cfg, wire.NewLogger(cfg, io.Discard))
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := b.Close(); err != nil {
					t.Error(err)
				}
			}()
			if b.Mode != tc.mode {
				t.Errorf("Mode = %q, want %q", b.Mode, tc.mode)
			}
			for _, name := range tc.checks {
				if err := b.Checks[name].Ping(ctx); err != nil {
					t.Errorf("check %s: %v", name, err)
				}
			}
			if len(b.Checks) != len(tc.checks) || b.SQLDB == nil || (b.Redis != nil) != tc.watch {
				t.Errorf("Checks %v, SQLDB %v, Redis %v: not what mode %s opens", b.Checks, b.SQLDB, b.Redis, tc.mode)
			}
			if got := wire.SessionCacheWatch(cfg); got != tc.watch {
				t.Errorf("SessionCacheWatch = %v, want %v", got, tc.watch)
			}
			svc, err := wire.NewService(cfg, b)
			if err != nil {
				t.Fatal(err)
			}
			defer wire.WatchSessions(cfg, svc)()
			if got := svc.ValueMaxBytes(); got != cfg.KV.ValueMaxBytes {
				t.Errorf("ValueMaxBytes = %d, want kv.value_max_bytes %d", got, cfg.KV.ValueMaxBytes)
			}
		})
	}
}

func TestMaxRecvMsgSize(t *testing.T) {
	for _, tc := range []struct {
		name     string
		valueMax int
		want     int
	}{
		{"small values: nap's default", 1 << 10, nap.DefaultMaxMessageSize},
		{"default limit: nap's default", 1 << 20, nap.DefaultMaxMessageSize},
		{"large values: twice the limit and a key", 8 << 20, 16<<20 + 64<<10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := wire.MaxRecvMsgSize(tc.valueMax); got != tc.want {
				t.Errorf("MaxRecvMsgSize(%d) = %d, want %d", tc.valueMax, got, tc.want)
			}
		})
	}
}

// TestRedisModes opens MySQL with Redis in each mode (one node, Cluster, Sentinel) from
// the configuration keys a user sets (redis.addr; redis.addrs; redis.addrs with
// redis.master_name), with shared quotas, and drives the use cases: an account, a login,
// a write and a read under the token, a read quota of 2 shared by two instances, a logout
// seen by the other instance's session cache.
func TestRedisModes(t *testing.T) {
	for _, m := range testenv.RedisModes() {
		t.Run(m.Name, func(t *testing.T) {
			m.Need(t)
			flags := map[string]any{"mysql.dsn": testenv.MySQLDSN(t), "redis.prefix": m.Prefix(t), "quota.shared": true,
				"password.time": 1, "password.memory_kib": 8, "session.cache_ttl": "1m"}
			switch {
			case m.MasterName != "":
				flags["redis.addrs"], flags["redis.master_name"] = strings.Join(m.Addrs, ","), m.MasterName
			case len(m.Addrs) > 0:
				flags["redis.addrs"] = strings.Join(m.Addrs, ",")
			default:
				flags["redis.addr"] = m.Addr
			}
			cfg := load(t, flags)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var svcs [2]*app.Service
			for i := range svcs {
				b, err := wire.Open(ctx, cfg, wire.NewLogger(cfg, io.Discard))
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				if err := b.Checks["redis"].Ping(ctx); err != nil {
					t.Fatal(err)
				}
				if svcs[i], err = wire.NewService(cfg, b); err != nil {
					t.Fatal(err)
				}
				defer wire.WatchSessions(cfg, svcs[i])()
			}
			a, b := svcs[0], svcs[1]
			if _, err := a.AddUser(ctx, "alice", "correct horse", &domain.Quota{Read: 2, Write: 10}); err != nil {
				t.Fatal(err)
			}
			res, err := a.Login(ctx, "alice", "correct horse")
			if err != nil {
				t.Fatal(err)
			}
			pa, err := a.Authenticate(ctx, res.Token, "")
			if err != nil {
				t.Fatal(err)
			}
			pb, err := b.Authenticate(ctx, res.Token, "") // the session is the other instance's too
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Write(ctx, pa, "k", []byte("v")); err != nil {
				t.Fatal(err)
			}
			if v, err := b.Read(ctx, pb, "k"); err != nil || string(v) != "v" {
				t.Fatalf("Read on the other instance = %q, %v", v, err)
			}
			// Read quota 2/s, burst 1: one read passes, the next is refused, on either instance.
			if err := a.CheckQuota(ctx, pa, domain.OpRead); err != nil {
				t.Fatal(err)
			}
			var qe *domain.QuotaExceededError
			if err := b.CheckQuota(ctx, pb, domain.OpRead); !errors.As(err, &qe) {
				t.Fatalf("second read on the other instance: %v, want QuotaExceededError (shared bucket)", err)
			}
			if err := a.Logout(ctx, res.Token); err != nil {
				t.Fatal(err)
			}
			// b cached the session; the watch drops it once Redis reports the logout, which
			// only asking b shows.
			testkit.WaitFor(t, testkit.Context(t, 5*time.Second), "the other instance to refuse the logged-out token", func() bool {
				_, err := b.Authenticate(ctx, res.Token, "")
				return errors.Is(err, domain.ErrUnauthenticated)
			})
		})
	}
}

// TestWatchValues: with cache.values_mib set and the session cache off, WatchValues runs
// the value cache's own watch (a connection named redis.WatchClientName subscribes), and
// a value another instance writes is read here; with the session cache's watch on,
// WatchValues starts nothing (that watch covers the values), so one watch connection
// per instance remains.
func TestWatchValues(t *testing.T) {
	addr := testenv.RedisAddr(t)
	dsn := testenv.MySQLDSN(t)
	for _, tc := range []struct {
		name     string
		sessions string // session.cache_ttl
	}{
		{"session cache off", "0s"},
		{"session cache on", "10s"},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			prefix := testenv.RedisPrefix(t, addr)
			cfg := load(t, map[string]any{"mysql.dsn": dsn, "redis.addr": addr, "redis.prefix": prefix,
				"cache.values_mib": 1, "session.cache_ttl": tc.sessions})
			ctx := testkit.Context(t, time.Minute)
			var kvs [2]domain.KV
			for i := range kvs {
				b, err := wire.Open(ctx, cfg, wire.NewLogger(cfg, io.Discard))
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				svc, err := wire.NewService(cfg, b)
				if err != nil {
					t.Fatal(err)
				}
				defer wire.WatchSessions(cfg, svc)()
				defer wire.WatchValues(cfg, b)()
				kvs[i] = b.KV
			}
			rdb := goredis.NewClient(&goredis.Options{Addr: addr})
			defer rdb.Close()
			watches := func() (n int) {
				list, err := rdb.ClientList(ctx).Result()
				if err != nil {
					t.Fatal(err)
				}
				for line := range strings.Lines(list) {
					if strings.Contains(line, " name="+redis.WatchClientName(prefix)+" ") && strings.Contains(line, " sub=1 ") {
						n++
					}
				}
				return n
			}
			testkit.WaitFor(t, ctx, "both instances' watches to subscribe", func() bool { return watches() >= 2 })
			if n := watches(); n != 2 {
				t.Fatalf("%d watch connections, want one per instance", n)
			}

			a, b := kvs[0], kvs[1]
			if err := a.Put(ctx, 7, "k", []byte("v1")); err != nil {
				t.Fatal(err)
			}
			if v, err := b.Get(ctx, 7, "k"); err != nil || string(v) != "v1" {
				t.Fatalf("Get on the other instance = %q, %v", v, err)
			}
			if err := a.Put(ctx, 7, "k", []byte("v2")); err != nil {
				t.Fatal(err)
			}
			// b may have cached v1; its watch drops it once Redis reports the write, which
			// only asking b shows.
			testkit.WaitFor(t, ctx, "the other instance to read the new value", func() bool {
				v, err := b.Get(ctx, 7, "k")
				return err == nil && string(v) == "v2"
			})
		})
	}
}
