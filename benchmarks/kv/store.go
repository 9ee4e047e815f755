package kv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seed857a6cbd/pocket/entrytask-server/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/config"
	"github.com/seed857a6cbd/pocket/entrytask-server/wire"
)

// DefaultUser is the seeded user the load logs in as: users 1..DefaultUser are seeded, and
// user 33,333 is the first whose read quota is the maximum (domain.MaxQuota, 100,000/s;
// its write quota is 33,336/s). User 1's read quota is 6/s.
const DefaultUser = 33333

// The store modes of a Backend.
const (
	ModeEmbedded   = wire.ModeEmbedded
	ModeMySQLRedis = wire.ModeMySQLRedis
)

// StoreOptions select and prepare the store both servers run on. With MySQLDSN and
// RedisAddr empty it is etserver's embedded SQLite store; with both set, MySQL + Redis.
type StoreOptions struct {
	// DataDir is the embedded store's directory; "" means a fresh temporary directory,
	// removed by Close.
	DataDir string
	// MySQLDSN names a MySQL/MariaDB server (go-sql-driver DSN). The backend creates a
	// fresh database <DSN's database or "pocket">_kvbench_<token> on it, migrates and
	// seeds it, and drops it in Close. It first drops the databases (and Redis keys) that
	// runs killed before their Close left behind: see freshDatabase.
	MySQLDSN string
	// RedisAddr is the Redis host:port; the backend's keys get the prefix
	// "kvbench:<token>:" and are deleted by Close.
	RedisAddr string
	// Users is how many users to seed (1..Users, password = username, etserver's seeded
	// quotas); 0 means DefaultUser.
	Users int
	// Log receives etserver's logs (the level comes from the configuration, info by
	// default); nil means io.Discard.
	Log io.Writer
}

// Backend is etserver's use-case layer (app.Service) on its stores, built by etserver's
// own wiring (package entrytask-server/wire) the way `etserver serve` and `etserver seed`
// do it: built-in configuration defaults (ETSERVER_* environment variables apply, as they
// do to etserver), the same stores, rate limiter and app.Options, the session-cache watch,
// and etserver's garbage-collector tuning (gc_percent and the gc_min_heap_mib heap floor)
// for the process while it is open.
type Backend struct {
	// Service runs login, read, write, delete and logout with etserver's auth and quotas.
	Service *app.Service
	// Config is the configuration the backend was built from.
	Config config.Config
	// Mode is ModeEmbedded or ModeMySQLRedis.
	Mode string
	// Logger is the logger the servers use (etserver's, wire.NewLogger).
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
	var stale []string // tokens of dead runs whose databases were dropped
	if opts.MySQLDSN == "" {
		dir := opts.DataDir
		if dir == "" {
			tmp, err := os.MkdirTemp("", "kvbench-")
			if err != nil {
				return b, fmt.Errorf("kv: %w", err)
			}
			b.closers = append(b.closers, func() error { return os.RemoveAll(tmp) })
			dir = tmp
		}
		flags["data_dir"] = dir
	} else {
		// A dead run's Redis keys go with its database, before it (see freshDatabase).
		rdb := goredis.NewClient(&goredis.Options{Addr: opts.RedisAddr})
		fresh, err := freshDatabase(ctx, opts.MySQLDSN, func(token string) error {
			return deleteKeys(rdb, redisPrefix(token))
		})
		if cerr := rdb.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("kv: %w", cerr)
		}
		if err != nil {
			return b, err
		}
		b.closers = append(b.closers, fresh.drop)
		stale = fresh.stale
		flags["mysql.dsn"] = fresh.dsn
		flags["redis.addr"] = opts.RedisAddr
		flags["redis.prefix"] = redisPrefix(fresh.token)
	}
	cfg, err := config.Load(config.Sources{Env: true, Flags: flags})
	if err != nil {
		return b, fmt.Errorf("kv: %w", err)
	}
	b.Config = cfg
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	b.Logger = wire.NewLogger(cfg, log)
	for _, token := range stale {
		b.Logger.Info("kv: dropped the database of a dead benchmark run", "token", token)
	}
	// As etserver serve does, for the whole process (both servers get it); undone by Close.
	restoreGC := wire.TuneGC(cfg)
	b.closers = append(b.closers, func() error { restoreGC(); return nil })

	st, err := wire.Open(ctx, cfg, b.Logger)
	if err != nil {
		return b, fmt.Errorf("kv: %w", err)
	}
	b.closers = append(b.closers, st.Close)
	b.Mode = st.Mode
	if st.Redis != nil {
		rdb, prefix := st.Redis, cfg.Redis.Prefix
		b.closers = append(b.closers, func() error { return deleteKeys(rdb, prefix) })
	}
	if _, err := app.Seed(ctx, st.Accounts, app.SeedOptions{Users: users, InsecureFastHashes: true}); err != nil {
		return b, fmt.Errorf("kv: seeding %d users: %w", users, err)
	}
	b.Service, err = wire.NewService(cfg, st)
	if err != nil {
		return b, fmt.Errorf("kv: %w", err)
	}
	stopWatch := wire.WatchSessions(cfg, b.Service) // stops before the stores close
	b.closers = append(b.closers, func() error { stopWatch(); return nil })
	return b, nil
}

// redisPrefix is the Redis key prefix of the backend with this token.
func redisPrefix(token string) string { return "kvbench:" + token + ":" }

// deleteKeys removes a backend's Redis keys: sessions and values under prefix, and the
// shared rate limiter's buckets under "rate:"+prefix.
func deleteKeys(rdb goredis.UniversalClient, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, pattern := range []string{prefix + "*", "rate:" + prefix + "*"} {
		it := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		var keys []string
		for it.Next(ctx) {
			keys = append(keys, it.Val())
		}
		if err := it.Err(); err != nil {
			return fmt.Errorf("kv: deleting redis keys %s: %w", pattern, err)
		}
		for len(keys) > 0 {
			n := min(len(keys), 1000)
			if err := rdb.Del(ctx, keys[:n]...).Err(); err != nil {
				return fmt.Errorf("kv: deleting redis keys %s: %w", pattern, err)
			}
			keys = keys[n:]
		}
	}
	return nil
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
