package wire

import (
	"context"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/config"
)

// AppOptions are the app.Options of etserver's service on b's stores, from cfg.
func AppOptions(cfg config.Config, b *Backend) app.Options {
	return app.Options{
		Accounts: b.Accounts, Quotas: b.Quotas, Sessions: b.Sessions, KV: b.KV, Limiter: b.Limiter,
		SessionTTL:          cfg.Session.TTL,
		SessionCacheTTL:     cfg.Session.CacheTTL,
		SessionCacheWatch:   SessionCacheWatch(cfg),
		ValueMaxBytes:       cfg.KV.ValueMaxBytes,
		DefaultQuota:        domain.Quota{Read: cfg.Quota.DefaultRead, Write: cfg.Quota.DefaultWrite},
		QuotaCacheSize:      cfg.Quota.CacheSize,
		QuotaCacheTTL:       cfg.Quota.CacheTTL,
		LoginRate:           cfg.Login.Rate,
		LoginBurst:          cfg.Login.Burst,
		MaxConcurrentHashes: cfg.Login.MaxConcurrentHashes,
		HashWait:            cfg.Login.HashWait,
		LoginAddrRate:       cfg.Login.AddrRate,
		LoginAddrBurst:      cfg.Login.AddrBurst,
		LoginCacheTTL:       loginCacheTTL(cfg),
		PasswordParams:      PasswordParams(cfg),
	}
}

// loginCacheTTL maps login.cache_ttl to app.Options.LoginCacheTTL (0s, off, is negative there).
func loginCacheTTL(cfg config.Config) time.Duration {
	if cfg.Login.CacheTTL == 0 {
		return -1
	}
	return cfg.Login.CacheTTL
}

// PasswordParams is the argon2id cost configured by password.* (the cost of every hash
// etserver writes, unless `seed --insecure-fast-hashes`).
func PasswordParams(cfg config.Config) domain.PasswordParams {
	return domain.PasswordParams{Time: uint32(cfg.Password.Time), MemoryKiB: uint32(cfg.Password.MemoryKiB),
		Threads: uint8(cfg.Password.Threads)}
}

// NewService builds etserver's use cases on b's stores: app.New(AppOptions(cfg, b)).
func NewService(cfg config.Config, b *Backend) (*app.Service, error) {
	return app.New(AppOptions(cfg, b))
}

// SessionCacheWatch reports whether the session cache follows the store's invalidations
// (session.cache_watch, with a cache, on Redis). The embedded store is one process's: its
// own logouts are the only way a session ends before it expires, and they drop the cached
// entry at once.
func SessionCacheWatch(cfg config.Config) bool {
	return cfg.Session.CacheWatch && cfg.Session.CacheTTL > 0 && !cfg.Embedded()
}

// WatchSessions starts svc's session-cache watch in a goroutine when SessionCacheWatch(cfg)
// holds, and returns the function that stops it and waits for it to end; call that before
// the stores close. With the watch off it starts nothing and returns a no-op. On Redis with
// the value cache on (cache.values_mib), the same watch keeps the value cache coherent.
func WatchSessions(cfg config.Config, svc *app.Service) (stop func()) {
	if !SessionCacheWatch(cfg) {
		return func() {}
	}
	return goWatch(svc.WatchSessions)
}

// WatchValues starts the Redis value cache's own watch (redis.Store.WatchValues) in a
// goroutine when the value cache is on (cache.values_mib > 0, on Redis) and WatchSessions
// does not run (SessionCacheWatch(cfg) is false: its watch covers the values then), and
// returns the function that stops it and waits for it to end; call that before b closes.
// Otherwise it starts nothing and returns a no-op. Without a running watch the value
// cache is never used.
func WatchValues(cfg config.Config, b *Backend) (stop func()) {
	if b.valueWatch == nil || SessionCacheWatch(cfg) {
		return func() {}
	}
	return goWatch(b.valueWatch)
}

// goWatch runs watch in a goroutine until the returned stop is called, which waits for it.
func goWatch(watch func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = watch(ctx) // returns when ctx ends
	}()
	return func() { cancel(); <-done }
}
