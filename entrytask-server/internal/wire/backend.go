package wire

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/jmoiron/sqlx"
	goredis "github.com/redis/go-redis/v9"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/config"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/mysql"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/ratelimit"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/redis"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/sqlite"
)

// The store modes of a Backend.
const (
	// ModeEmbedded is the embedded SQLite store in data_dir, used when neither mysql.dsn
	// nor redis.addr is set.
	ModeEmbedded = "embedded"
	// ModeMySQLRedis is MySQL for accounts and quotas and Redis for sessions and values.
	ModeMySQLRedis = "mysql+redis"
)

// Backend is the set of stores the configuration selects, migrated and ready. Open
// fills every field; Close closes the stores.
type Backend struct {
	// Mode is ModeEmbedded or ModeMySQLRedis.
	Mode string

	Accounts domain.Accounts
	Quotas   domain.Quotas
	Sessions domain.Sessions
	KV       domain.KV
	// Limiter is the local rate limiter (quota.local_max_keys keys), or Redis's shared
	// one when quota.shared is set (MySQL+Redis mode only).
	Limiter domain.RateLimiter

	// Checks are the readiness checks by store name: "sqlite", or "mysql" and "redis".
	Checks map[string]domain.Pinger
	// SQLDB is the SQL pool, for its statistics; SQLName names it ("sqlite" or "mysql").
	SQLDB   *sqlx.DB
	SQLName string
	// Redis is the Redis client (nil in embedded mode), for its pool statistics: a
	// *goredis.Client (one node, Sentinel) or a *goredis.ClusterClient.
	Redis goredis.UniversalClient

	// ValueCache returns the Redis value cache's statistics (cache.values_mib), for
	// etserver_value_cache_*; nil when the cache is off or there is no Redis.
	ValueCache func() redis.ValueCacheStats

	valueWatch func(ctx context.Context) error // the Redis value cache's watch; nil: no value cache
	closers    []io.Closer
}

// Close closes the stores in reverse order of opening. Calling it again does nothing.
func (b *Backend) Close() error {
	var errs []error
	for i := len(b.closers) - 1; i >= 0; i-- {
		errs = append(errs, b.closers[i].Close())
	}
	b.closers = nil
	return errors.Join(errs...)
}

// Open opens the stores cfg selects and applies the migrations; it logs what it opened
// (and the MySQL migrations it applied) to log. On error nothing is left open.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*Backend, error) {
	b := &Backend{Checks: map[string]domain.Pinger{}}
	local := ratelimit.NewLocal(ratelimit.Options{MaxKeys: cfg.Quota.LocalMaxKeys})
	if cfg.Embedded() {
		s, err := sqlite.Open(ctx, sqlite.Options{Dir: cfg.DataDir, Synchronous: cfg.SQLite.Synchronous})
		if err != nil {
			return nil, err
		}
		log.Info("embedded store open", "path", s.Path(), "synchronous", cfg.SQLite.Synchronous)
		b.Mode = ModeEmbedded
		b.Accounts, b.Quotas, b.Sessions, b.KV, b.Limiter = s, s, s, s, local
		b.Checks["sqlite"] = s
		b.SQLDB, b.SQLName = s.DB(), "sqlite"
		b.closers = append(b.closers, s)
		return b, nil
	}
	ms, err := mysql.Open(ctx, mysql.Options{DSN: cfg.MySQL.DSN, ReplicaDSN: cfg.MySQL.ReplicaDSN, Logger: log, MaxOpenConns: cfg.MySQL.MaxOpenConns,
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
	rs, err := redis.Open(ctx, redis.Options{Addr: cfg.Redis.Addr, Addrs: cfg.Redis.AddrList(), MasterName: cfg.Redis.MasterName, Password: cfg.Redis.Password, DB: cfg.Redis.DB,
		PoolSize: cfg.Redis.PoolSize, Prefix: cfg.Redis.Prefix, DisableAutoPipeline: !cfg.Redis.AutoPipeline, Logger: log,
		ValueCacheBytes: int64(cfg.Cache.ValuesMiB) << 20})
	if err != nil {
		b.Close()
		return nil, err
	}
	b.closers = append(b.closers, rs)
	b.Mode = ModeMySQLRedis
	log.Info("redis open", "mode", rs.Mode(), "value_cache_mib", cfg.Cache.ValuesMiB)
	if cfg.Cache.ValuesMiB > 0 {
		b.valueWatch = rs.WatchValues
		b.ValueCache = func() redis.ValueCacheStats {
			st, _ := rs.ValueCacheStats()
			return st
		}
	}
	b.Accounts, b.Quotas, b.Sessions, b.KV, b.Limiter = ms, ms, rs, rs, local
	if cfg.Quota.Shared {
		b.Limiter = rs
	}
	b.Checks["mysql"], b.Checks["redis"] = ms, rs
	b.SQLDB, b.SQLName, b.Redis = ms.DB(), "mysql", rs.Client()
	return b, nil
}
