package kv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	drv "github.com/go-sql-driver/mysql"

	"github.com/seed857a6cbd/pocket/nap"

	"github.com/seed857a6cbd/pocket/entrytask-server/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/config"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/mysql"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/ratelimit"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/redis"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/sqlite"
)

// DefaultUser is the seeded user the load logs in as: users 1..DefaultUser are seeded, and
// user 33,333 is the first whose read quota is the maximum (domain.MaxQuota, 100,000/s;
// its write quota is 33,336/s). User 1's read quota is 6/s.
const DefaultUser = 33333

// The store modes of a Backend.
const (
	ModeEmbedded   = "embedded"
	ModeMySQLRedis = "mysql+redis"
)

// StoreOptions select and prepare the store both servers run on. With MySQLDSN and
// RedisAddr empty it is etserver's embedded SQLite store; with both set, MySQL + Redis.
type StoreOptions struct {
	// DataDir is the embedded store's directory; "" means a fresh temporary directory,
	// removed by Close.
	DataDir string
	// MySQLDSN names a MySQL/MariaDB server (go-sql-driver DSN). The backend creates a
	// fresh database <DSN's database or "pocket">_etbench_<random> on it, migrates and
	// seeds it, and drops it in Close.
	MySQLDSN string
	// RedisAddr is the Redis host:port; the backend's keys get the prefix
	// "etbench:<random>:" and are deleted by Close.
	RedisAddr string
	// Users is how many users to seed (1..Users, password = username, etserver's seeded
	// quotas); 0 means DefaultUser.
	Users int
	// Log receives etserver's logs (the level comes from the configuration, info by
	// default); nil means io.Discard.
	Log io.Writer
}

// Backend is etserver's use-case layer (app.Service) on its stores, configured, migrated
// and seeded the way `etserver serve` and `etserver seed` do it: built-in configuration
// defaults (ETSERVER_* environment variables apply, as they do to etserver), the same
// stores, the same local rate limiter, the same app.Options, the session-cache watch,
// and etserver's garbage-collector target (gc_percent) for the process while it is open.
type Backend struct {
	// Service runs login, read, write, delete and logout with etserver's auth and quotas.
	Service *app.Service
	// Config is the configuration the backend was built from.
	Config config.Config
	// Mode is ModeEmbedded or ModeMySQLRedis.
	Mode string
	// Logger is the logger the servers use (etserver's text handler at cfg.Log.Level).
	Logger *slog.Logger

	closers []func() error
}

// Close closes the stores and removes what the backend created (temporary directory,
// database, Redis keys).
func (b *Backend) Close() error {
	var errs []error
	for i := len(b.closers) - 1; i >= 0; i-- {
		errs = append(errs, b.closers[i]())
	}
	b.closers = nil
	return errors.Join(errs...)
}

// OpenBackend opens the store opts select, applies the migrations and seeds the users.
func OpenBackend(ctx context.Context, opts StoreOptions) (_ *Backend, err error) {
	if (opts.MySQLDSN == "") != (opts.RedisAddr == "") {
		return nil, errors.New("kv: the MySQL DSN and the Redis address go together: set both or neither")
	}
	users := opts.Users
	if users == 0 {
		users = DefaultUser
	}
	if users < 0 {
		return nil, fmt.Errorf("kv: %d users to seed", users)
	}
	b := &Backend{}
	defer func() {
		if err != nil {
			err = errors.Join(err, b.Close())
		}
	}()
	flags := map[string]any{"admin_listen": ""}
	if opts.MySQLDSN == "" {
		dir := opts.DataDir
		if dir == "" {
			tmp, err := os.MkdirTemp("", "etbench-")
			if err != nil {
				return b, fmt.Errorf("kv: %w", err)
			}
			b.closers = append(b.closers, func() error { return os.RemoveAll(tmp) })
			dir = tmp
		}
		flags["data_dir"] = dir
	} else {
		dsn, drop, err := freshDatabase(ctx, opts.MySQLDSN)
		if err != nil {
			return b, err
		}
		b.closers = append(b.closers, drop)
		flags["mysql.dsn"] = dsn
		flags["redis.addr"] = opts.RedisAddr
		flags["redis.prefix"] = "etbench:" + random(6) + ":"
	}
	cfg, err := config.Load(config.Sources{Env: os.Environ(), Flags: flags})
	if err != nil {
		return b, fmt.Errorf("kv: %w", err)
	}
	b.Config = cfg
	b.Logger = newLogger(cfg, opts.Log)
	if cfg.GCPercent > 0 && os.Getenv("GOGC") == "" {
		// As etserver serve does, for the whole process (both servers get it): the
		// collector's target while serving; restored by Close.
		prev := debug.SetGCPercent(cfg.GCPercent)
		b.closers = append(b.closers, func() error { debug.SetGCPercent(prev); return nil })
	}

	stores, err := b.openStores(ctx, cfg)
	if err != nil {
		return b, err
	}
	if _, err := app.Seed(ctx, stores.accounts, app.SeedOptions{Users: users}); err != nil {
		return b, fmt.Errorf("kv: seeding %d users: %w", users, err)
	}
	// The same app.Options as etserver's newService (cmd/etserver/wire.go).
	watch := cfg.Session.CacheWatch && cfg.Session.CacheTTL > 0 && !cfg.Embedded()
	b.Service, err = app.New(app.Options{
		Accounts: stores.accounts, Quotas: stores.quotas, Sessions: stores.sessions, KV: stores.kv, Limiter: stores.limiter,
		SessionTTL:        cfg.Session.TTL,
		SessionCacheTTL:   cfg.Session.CacheTTL,
		SessionCacheWatch: watch,
		ValueMaxBytes:     cfg.KV.ValueMaxBytes,
		DefaultQuota:      domain.Quota{Read: cfg.Quota.DefaultRead, Write: cfg.Quota.DefaultWrite},
		QuotaCacheSize:    cfg.Quota.CacheSize,
		QuotaCacheTTL:     cfg.Quota.CacheTTL,
		LoginRate:         cfg.Login.Rate,
		LoginBurst:        cfg.Login.Burst,
		PasswordParams: domain.PasswordParams{Time: uint32(cfg.Password.Time), MemoryKiB: uint32(cfg.Password.MemoryKiB),
			Threads: uint8(cfg.Password.Threads)},
	})
	if err != nil {
		return b, fmt.Errorf("kv: %w", err)
	}
	if watch {
		// As etserver serve does: the session cache follows Redis's invalidations while
		// the watch runs; it stops before the stores close.
		wctx, wcancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = b.Service.WatchSessions(wctx) // returns when wctx ends
		}()
		b.closers = append(b.closers, func() error { wcancel(); <-done; return nil })
	}
	return b, nil
}

type stores struct {
	accounts domain.Accounts
	quotas   domain.Quotas
	sessions domain.Sessions
	kv       domain.KV
	limiter  domain.RateLimiter
}

// openStores is etserver's openBackend (cmd/etserver/wire.go): SQLite for everything, or
// MySQL for accounts and quotas and Redis for sessions and values; the local rate limiter
// unless quota.shared.
func (b *Backend) openStores(ctx context.Context, cfg config.Config) (stores, error) {
	local := ratelimit.NewLocal(ratelimit.Options{MaxKeys: cfg.Quota.LocalMaxKeys})
	if cfg.Embedded() {
		s, err := sqlite.Open(ctx, sqlite.Options{Dir: cfg.DataDir, Synchronous: cfg.SQLite.Synchronous})
		if err != nil {
			return stores{}, fmt.Errorf("kv: %w", err)
		}
		b.closers = append(b.closers, s.Close)
		b.Mode = ModeEmbedded
		return stores{accounts: s, quotas: s, sessions: s, kv: s, limiter: local}, nil
	}
	ms, err := mysql.Open(ctx, mysql.Options{DSN: cfg.MySQL.DSN, MaxOpenConns: cfg.MySQL.MaxOpenConns,
		MaxIdleConns: cfg.MySQL.MaxIdleConns, ConnMaxLifetime: cfg.MySQL.ConnMaxLifetime})
	if err != nil {
		return stores{}, fmt.Errorf("kv: %w", err)
	}
	b.closers = append(b.closers, ms.Close)
	if _, err := ms.Migrate(ctx); err != nil {
		return stores{}, fmt.Errorf("kv: %w", err)
	}
	rs, err := redis.Open(ctx, redis.Options{Addr: cfg.Redis.Addr, Password: cfg.Redis.Password, DB: cfg.Redis.DB,
		PoolSize: cfg.Redis.PoolSize, Prefix: cfg.Redis.Prefix, DisableAutoPipeline: !cfg.Redis.AutoPipeline, Logger: b.Logger})
	if err != nil {
		return stores{}, fmt.Errorf("kv: %w", err)
	}
	prefix := cfg.Redis.Prefix
	b.closers = append(b.closers, rs.Close, func() error { return deleteKeys(rs, prefix) })
	b.Mode = ModeMySQLRedis
	st := stores{accounts: ms, quotas: ms, sessions: rs, kv: rs, limiter: local}
	if cfg.Quota.Shared {
		st.limiter = rs
	}
	return st, nil
}

// deleteKeys removes the backend's Redis keys (sessions, values, shared buckets).
func deleteKeys(rs *redis.Store, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rdb := rs.Client()
	it := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for it.Next(ctx) {
		keys = append(keys, it.Val())
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("kv: deleting redis keys %s*: %w", prefix, err)
	}
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		if err := rdb.Del(ctx, keys[:n]...).Err(); err != nil {
			return fmt.Errorf("kv: deleting redis keys %s*: %w", prefix, err)
		}
		keys = keys[n:]
	}
	return nil
}

// freshDatabase creates an empty database next to the one dsn names and returns a DSN
// naming it and a function dropping it.
func freshDatabase(ctx context.Context, dsn string) (string, func() error, error) {
	cfg, err := drv.ParseDSN(dsn)
	if err != nil {
		return "", nil, fmt.Errorf("kv: parsing the MySQL DSN: %w", err)
	}
	base := cfg.DBName
	if base == "" {
		base = "pocket"
	}
	name := base + "_etbench_" + random(6)
	admin := cfg.Clone()
	admin.DBName = ""
	conn, err := drv.NewConnector(admin)
	if err != nil {
		return "", nil, fmt.Errorf("kv: %w", err)
	}
	db := sql.OpenDB(conn)
	if _, err := db.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("kv: creating database %s: %w", name, err)
	}
	drop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`")
		if err != nil {
			err = fmt.Errorf("kv: dropping database %s: %w", name, err)
		}
		return errors.Join(err, db.Close())
	}
	cfg.DBName = name
	return cfg.FormatDSN(), drop, nil
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newLogger is etserver's logger (cmd/etserver/wire.go) on w.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	if w == nil {
		w = io.Discard
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.Log.Level)))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// maxRecvMsgSize is etserver's request size limit (cmd/etserver/serve.go): at least nap's
// default (4 MiB), and room for twice the value limit plus the largest key. Both servers
// use it.
func maxRecvMsgSize(valueMax int) int {
	return max(2*valueMax+64<<10, nap.DefaultMaxMessageSize)
}
