package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	goredis "github.com/redis/go-redis/v9"
	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/entrytask-server/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/config"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/mysql"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/ratelimit"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/redis"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/sqlite"
)

// configFlags are the flags every command accepts; each maps to a configuration key.
func configFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "YAML configuration file (optional)"},
		&cli.StringFlag{Name: "listen", Usage: "RPC listen address (key listen; default 127.0.0.1:7000)"},
		&cli.StringFlag{Name: "admin-listen", Usage: "admin HTTP address (key admin_listen; default 127.0.0.1:7001)"},
		&cli.StringFlag{Name: "data-dir", Usage: "embedded store directory (key data_dir; default etserver-data)"},
		&cli.StringFlag{Name: "mysql-dsn", Usage: "MySQL DSN (key mysql.dsn)"},
		&cli.StringFlag{Name: "redis-addr", Usage: "Redis host:port (key redis.addr)"},
		&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error (key log.level)"},
	}
}

var flagKeys = map[string]string{
	"listen": "listen", "admin-listen": "admin_listen", "data-dir": "data_dir",
	"mysql-dsn": "mysql.dsn", "redis-addr": "redis.addr", "log-level": "log.level",
}

func loadConfig(c *cli.Context) (config.Config, error) {
	flags := map[string]any{}
	for name, key := range flagKeys {
		if c.IsSet(name) {
			flags[key] = c.String(name)
		}
	}
	return config.Load(config.Sources{File: c.String("config"), Env: os.Environ(), Flags: flags})
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.Log.Level)))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// backend is the set of stores the configuration selects, migrated and ready.
type backend struct {
	mode     string // "embedded" or "mysql+redis"
	accounts domain.Accounts
	quotas   domain.Quotas
	sessions domain.Sessions
	kv       domain.KV
	limiter  domain.RateLimiter
	checks   map[string]domain.Pinger // readiness checks by name
	sqlDB    *sqlx.DB                 // for pool statistics
	sqlName  string
	redis    *goredis.Client // nil in embedded mode
	closers  []io.Closer
}

// Close closes the stores in reverse order of opening.
func (b *backend) Close() error {
	var errs []error
	for i := len(b.closers) - 1; i >= 0; i-- {
		errs = append(errs, b.closers[i].Close())
	}
	return errors.Join(errs...)
}

// openBackend opens the configured stores and applies the migrations.
func openBackend(ctx context.Context, cfg config.Config, log *slog.Logger) (*backend, error) {
	b := &backend{checks: map[string]domain.Pinger{}}
	local := ratelimit.NewLocal(ratelimit.Options{MaxKeys: cfg.Quota.LocalMaxKeys})
	if cfg.Embedded() {
		s, err := sqlite.Open(ctx, sqlite.Options{Dir: cfg.DataDir, Synchronous: cfg.SQLite.Synchronous})
		if err != nil {
			return nil, err
		}
		log.Info("embedded store open", "path", s.Path(), "synchronous", cfg.SQLite.Synchronous)
		b.mode = "embedded"
		b.accounts, b.quotas, b.sessions, b.kv, b.limiter = s, s, s, s, local
		b.checks["sqlite"] = s
		b.sqlDB, b.sqlName = s.DB(), "sqlite"
		b.closers = append(b.closers, s)
		return b, nil
	}
	ms, err := mysql.Open(ctx, mysql.Options{DSN: cfg.MySQL.DSN, MaxOpenConns: cfg.MySQL.MaxOpenConns,
		MaxIdleConns: cfg.MySQL.MaxIdleConns, ConnMaxLifetime: cfg.MySQL.ConnMaxLifetime})
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, ms)
	ran, err := ms.Migrate(ctx)
	if err != nil {
		b.Close()
		return nil, err
	}
	if len(ran) > 0 {
		log.Info("mysql migrations applied", "versions", ran)
	}
	rs, err := redis.Open(ctx, redis.Options{Addr: cfg.Redis.Addr, Password: cfg.Redis.Password, DB: cfg.Redis.DB,
		PoolSize: cfg.Redis.PoolSize, Prefix: cfg.Redis.Prefix, DisableAutoPipeline: !cfg.Redis.AutoPipeline, Logger: log})
	if err != nil {
		b.Close()
		return nil, err
	}
	b.closers = append(b.closers, rs)
	b.mode = "mysql+redis"
	b.accounts, b.quotas, b.sessions, b.kv, b.limiter = ms, ms, rs, rs, local
	if cfg.Quota.Shared {
		b.limiter = rs
	}
	b.checks["mysql"], b.checks["redis"] = ms, rs
	b.sqlDB, b.sqlName, b.redis = ms.DB(), "mysql", rs.Client()
	return b, nil
}

func newService(cfg config.Config, b *backend) (*app.Service, error) {
	return app.New(app.Options{
		Accounts: b.accounts, Quotas: b.quotas, Sessions: b.sessions, KV: b.kv, Limiter: b.limiter,
		SessionTTL:      cfg.Session.TTL,
		SessionCacheTTL: cfg.Session.CacheTTL,
		// The embedded store is one process's: its own logouts are the only way a session
		// ends before it expires, and they drop the cached entry at once.
		SessionCacheWatch: cfg.Session.CacheWatch && cfg.Session.CacheTTL > 0 && !cfg.Embedded(),
		ValueMaxBytes:     cfg.KV.ValueMaxBytes,
		DefaultQuota:      domain.Quota{Read: cfg.Quota.DefaultRead, Write: cfg.Quota.DefaultWrite},
		QuotaCacheSize:    cfg.Quota.CacheSize,
		QuotaCacheTTL:     cfg.Quota.CacheTTL,
		LoginRate:         cfg.Login.Rate,
		LoginBurst:        cfg.Login.Burst,
		PasswordParams:    domain.PasswordParams{Time: uint32(cfg.Password.Time), MemoryKiB: uint32(cfg.Password.MemoryKiB), Threads: uint8(cfg.Password.Threads)},
	})
}

func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
