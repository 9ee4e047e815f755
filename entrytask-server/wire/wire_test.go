package wire_test

import (
	"context"
	"io"
	"runtime/debug"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seed857a6cbd/pocket/nap"

	"github.com/seed857a6cbd/pocket/entrytask-server/infra/config"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testenv"
	"github.com/seed857a6cbd/pocket/entrytask-server/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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

func TestTuneGC(t *testing.T) {
	t.Setenv("GOGC", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	restore := wire.TuneGC(load(t, map[string]any{"gc_percent": 250, "gc_min_heap_mib": 0}))
	if got := debug.SetGCPercent(250); got != 250 {
		t.Errorf("GC percent while tuned = %d, want gc_percent 250", got)
	}
	restore()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent after restore = %d, want 100", got)
	}

	t.Setenv("GOMEMLIMIT", "")
	before := debug.SetMemoryLimit(-1)
	restore = wire.TuneGC(load(t, map[string]any{"gc_memory_limit_mib": 300}))
	if got := debug.SetMemoryLimit(-1); got != 300<<20 {
		t.Errorf("memory limit while tuned = %d, want gc_memory_limit_mib 300 MiB", got)
	}
	restore()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("memory limit after restore = %d, want %d", got, before)
	}
	restore = wire.TuneGC(load(t, map[string]any{"gc_memory_limit_mib": 100, "gc_min_heap_mib": 0}))
	if got := debug.SetMemoryLimit(-1); got != 100<<20 {
		t.Errorf("memory limit while tuned = %d, want 100 MiB", got)
	}
	restore()
	restore = wire.TuneGC(load(t, map[string]any{"gc_memory_limit_mib": 192, "gc_min_heap_mib": 256}))
	if got := debug.SetMemoryLimit(-1); got != (256+64)<<20 {
		t.Errorf("memory limit under a 256 MiB floor = %d MiB, want 320", got>>20)
	}
	restore()
	t.Setenv("GOMEMLIMIT", "1GiB")
	wire.TuneGC(load(t, map[string]any{"gc_memory_limit_mib": 300}))()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("with GOMEMLIMIT set TuneGC changed the memory limit to %d", got)
	}

	t.Setenv("GOGC", "150")
	wire.TuneGC(load(t, map[string]any{"gc_percent": 250, "gc_min_heap_mib": 0}))()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set TuneGC changed the GC percent to %d", got)
	}
}
