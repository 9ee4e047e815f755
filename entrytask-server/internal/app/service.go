package app

import (
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/lru"
)

// Defaults for Options fields left zero.
const (
	DefaultSessionTTL     = 24 * time.Hour
	DefaultReadQuota      = 1000 // reads per second for users without a quota row
	DefaultWriteQuota     = 1000 // writes per second for users without a quota row
	DefaultQuotaCacheSize = 100000
	DefaultQuotaCacheTTL  = 30 * time.Second
	DefaultLoginRate      = 5  // failed login attempts per second per username
	DefaultLoginBurst     = 10 // failed login attempts in a burst per username
	// DefaultLoginAddrRate and DefaultLoginAddrBurst bound the failed logins counted per
	// client address (LoginFrom): 10 per second, 20 in a burst, whatever the usernames.
	DefaultLoginAddrRate    = 10
	DefaultLoginAddrBurst   = 20
	DefaultSessionCacheSize = 100000 // sessions cached when SessionCacheTTL > 0
	// DefaultLoginCacheTTL is how long a verified username and password open sessions
	// without a new password check (see Service.Login), and DefaultLoginCacheSize how
	// many usernames that cache holds (about 200 bytes each).
	DefaultLoginCacheTTL  = time.Minute
	DefaultLoginCacheSize = 10000
	// DefaultHashWait is how long a login waits for a password-check slot (see
	// MaxConcurrentHashes) before it is refused with a retry hint of the same length.
	DefaultHashWait = time.Second
)

// DefaultMaxConcurrentHashes is the number of password checks (argon2id or bcrypt) that
// run at once when Options.MaxConcurrentHashes is 0: 2 × GOMAXPROCS at the time New runs.
// With the default argon2id cost (19 MiB) that bounds the memory logins take to
// 38 MiB × GOMAXPROCS, however many arrive.
func DefaultMaxConcurrentHashes() int { return 2 * runtime.GOMAXPROCS(0) }

// Options configure a Service. The five stores are required; every other zero value means
// the default named beside it.
type Options struct {
	Accounts domain.Accounts    // required
	Quotas   domain.Quotas      // required
	Sessions domain.Sessions    // required
	KV       domain.KV          // required
	Limiter  domain.RateLimiter // required: quotas and login throttle (local or Redis)

	SessionTTL time.Duration // session lifetime; 0 means DefaultSessionTTL
	// SessionCacheTTL keeps sessions Authenticate looked up in an in-process LRU
	// (DefaultSessionCacheSize entries, by token) for this long; 0 (default) disables the
	// cache. Logout on this Service drops the entry at once; without SessionCacheWatch a
	// logout on another instance takes up to SessionCacheTTL to take effect here. Expiry
	// is still checked on every call.
	SessionCacheTTL time.Duration
	// SessionCacheWatch makes the session cache coherent across instances: it is used only
	// while WatchSessions runs and its store (a domain.SessionWatcher) reports every change
	// to sessions, and an entry is dropped as soon as its session changes anywhere. While
	// reports may be missed (before WatchSessions, after a lost connection) every lookup
	// goes to the store. Requires SessionCacheTTL > 0 and Sessions implementing
	// domain.SessionWatcher.
	SessionCacheWatch bool
	ValueMaxBytes     int           // value size limit; 0 means domain.DefaultValueMaxBytes
	DefaultQuota      domain.Quota  // for users without a quota row; zero fields mean DefaultReadQuota/DefaultWriteQuota
	QuotaCacheSize    int           // quotas cached; 0 means DefaultQuotaCacheSize
	QuotaCacheTTL     time.Duration // how long a cached quota is trusted; 0 means DefaultQuotaCacheTTL
	LoginRate         int           // failed login attempts/s per username; 0 means DefaultLoginRate
	LoginBurst        int           // failed-login burst per username; 0 means DefaultLoginBurst
	// LoginAddrRate and LoginAddrBurst bound failed logins per client address (IPv6: per
	// /64) in LoginFrom; 0 means DefaultLoginAddrRate (10/s) and DefaultLoginAddrBurst (20).
	LoginAddrRate  int
	LoginAddrBurst int
	// PasswordParams is the argon2id cost of every hash the Service writes (new and
	// changed passwords, upgrades of outdated hashes at login) and of the dummy hash
	// unknown usernames are checked against; zero fields mean the domain defaults
	// (m=19456 KiB, t=2, p=1: OWASP's minimum).
	PasswordParams domain.PasswordParams
	// MaxConcurrentHashes bounds the password checks Login runs at once, server-wide
	// (each argon2id check holds its memory cost, 19 MiB by default, and a core for
	// tens of milliseconds); 0 means DefaultMaxConcurrentHashes(), 2 × GOMAXPROCS.
	MaxConcurrentHashes int
	// HashWait is how long a Login waits for a free password-check slot before it is
	// refused with ErrQuotaExceeded (Concurrent) and RetryAfter = HashWait; 0 means
	// DefaultHashWait (1 s).
	HashWait time.Duration
	// LoginCacheTTL is how long a successful password check is remembered (see Login);
	// 0 means DefaultLoginCacheTTL (1 min), negative disables the cache.
	LoginCacheTTL time.Duration
	// LoginCacheSize bounds the usernames remembered; 0 means DefaultLoginCacheSize.
	LoginCacheSize int
	Now            func() time.Time // clock; nil means time.Now
}

// Service runs the use cases. It is safe for concurrent use.
type Service struct {
	accounts domain.Accounts
	quotas   domain.Quotas
	sessions domain.Sessions
	kv       domain.KV
	limiter  domain.RateLimiter

	sessionTTL     time.Duration
	valueMax       int
	defaultQuota   domain.Quota
	loginLimit     domain.Limit
	loginAddrLimit domain.Limit
	dummyHash      string
	passwordParams domain.PasswordParams // with defaults filled in
	hashUpgrades   atomic.Int64
	verified       *lru.Cache[string, verifiedEntry] // nil when LoginCacheTTL < 0
	verifiedKey    [32]byte
	hashSlots      chan struct{} // one element per password check running (MaxConcurrentHashes)
	hashWait       time.Duration
	hashHook       func() // tests: called when a password check has its slot
	now            func() time.Time
	quotaCache     *lru.Cache[int64, quotaEntry]
	sessionCache   *sessionCache // nil when SessionCacheTTL is 0
	quotaCacheTTL  time.Duration
}

// New checks opts and returns a Service. It computes the dummy password hash once (one
// argon2id derivation at the configured cost).
func New(opts Options) (*Service, error) {
	switch {
	case opts.Accounts == nil:
		return nil, errors.New("app: Options.Accounts is required")
	case opts.Quotas == nil:
		return nil, errors.New("app: Options.Quotas is required")
	case opts.Sessions == nil:
		return nil, errors.New("app: Options.Sessions is required")
	case opts.KV == nil:
		return nil, errors.New("app: Options.KV is required")
	case opts.Limiter == nil:
		return nil, errors.New("app: Options.Limiter is required")
	case opts.SessionTTL < 0:
		return nil, fmt.Errorf("app: Options.SessionTTL %s is negative", opts.SessionTTL)
	case opts.SessionCacheTTL < 0:
		return nil, fmt.Errorf("app: Options.SessionCacheTTL %s is negative", opts.SessionCacheTTL)
	case opts.SessionCacheWatch && opts.SessionCacheTTL == 0:
		return nil, errors.New("app: Options.SessionCacheWatch needs a SessionCacheTTL")
	case opts.MaxConcurrentHashes < 0:
		return nil, fmt.Errorf("app: Options.MaxConcurrentHashes %d is negative", opts.MaxConcurrentHashes)
	case opts.HashWait < 0:
		return nil, fmt.Errorf("app: Options.HashWait %s is negative", opts.HashWait)
	case opts.ValueMaxBytes < 0:
		return nil, fmt.Errorf("app: Options.ValueMaxBytes %d is negative", opts.ValueMaxBytes)
	}
	s := &Service{
		accounts: opts.Accounts, quotas: opts.Quotas, sessions: opts.Sessions, kv: opts.KV, limiter: opts.Limiter,
		sessionTTL: opts.SessionTTL, valueMax: opts.ValueMaxBytes, defaultQuota: opts.DefaultQuota,
		loginLimit: domain.Limit{Rate: opts.LoginRate, Burst: opts.LoginBurst}, now: opts.Now, quotaCacheTTL: opts.QuotaCacheTTL,
	}
	if s.sessionTTL == 0 {
		s.sessionTTL = DefaultSessionTTL
	}
	if s.valueMax == 0 {
		s.valueMax = domain.DefaultValueMaxBytes
	}
	if s.defaultQuota.Read == 0 {
		s.defaultQuota.Read = DefaultReadQuota
	}
	if s.defaultQuota.Write == 0 {
		s.defaultQuota.Write = DefaultWriteQuota
	}
	if err := s.defaultQuota.Validate(); err != nil {
		return nil, fmt.Errorf("app: Options.DefaultQuota: %w", err)
	}
	if s.loginLimit.Rate == 0 {
		s.loginLimit.Rate = DefaultLoginRate
	}
	if s.loginLimit.Burst == 0 {
		s.loginLimit.Burst = DefaultLoginBurst
	}
	s.loginAddrLimit = domain.Limit{Rate: opts.LoginAddrRate, Burst: opts.LoginAddrBurst}
	if s.loginAddrLimit.Rate == 0 {
		s.loginAddrLimit.Rate = DefaultLoginAddrRate
	}
	if s.loginAddrLimit.Burst == 0 {
		s.loginAddrLimit.Burst = DefaultLoginAddrBurst
	}
	if s.loginAddrLimit.Rate < 0 || s.loginAddrLimit.Burst < 0 {
		return nil, fmt.Errorf("app: Options.LoginAddrRate %d and LoginAddrBurst %d must not be negative", opts.LoginAddrRate, opts.LoginAddrBurst)
	}
	if s.loginLimit.Rate < 0 || s.loginLimit.Burst < 0 {
		return nil, fmt.Errorf("app: Options.LoginRate %d and LoginBurst %d must not be negative", opts.LoginRate, opts.LoginBurst)
	}
	if s.now == nil {
		s.now = time.Now
	}
	slots := opts.MaxConcurrentHashes
	if slots == 0 {
		slots = DefaultMaxConcurrentHashes()
	}
	s.hashSlots = make(chan struct{}, slots)
	s.hashWait = opts.HashWait
	if s.hashWait == 0 {
		s.hashWait = DefaultHashWait
	}
	if s.quotaCacheTTL == 0 {
		s.quotaCacheTTL = DefaultQuotaCacheTTL
	}
	size := opts.QuotaCacheSize
	if size == 0 {
		size = DefaultQuotaCacheSize
	}
	s.quotaCache = lru.New[int64, quotaEntry](size, s.quotaCacheTTL, s.now)
	if opts.SessionCacheWatch {
		if _, ok := opts.Sessions.(domain.SessionWatcher); !ok {
			return nil, fmt.Errorf("app: Options.SessionCacheWatch: the session store %T cannot report changes (not a domain.SessionWatcher)", opts.Sessions)
		}
	}
	if opts.SessionCacheTTL > 0 {
		s.sessionCache = newSessionCache(DefaultSessionCacheSize, opts.SessionCacheTTL, s.now, opts.SessionCacheWatch)
	}
	if opts.LoginCacheTTL >= 0 {
		ttl, size := opts.LoginCacheTTL, opts.LoginCacheSize
		if ttl == 0 {
			ttl = DefaultLoginCacheTTL
		}
		if size <= 0 {
			size = DefaultLoginCacheSize
		}
		s.verified = lru.New[string, verifiedEntry](size, ttl, s.now)
		if _, err := rand.Read(s.verifiedKey[:]); err != nil {
			return nil, fmt.Errorf("app: reading random key: %w", err)
		}
	}
	s.passwordParams = opts.PasswordParams.WithDefaults()
	h, err := domain.HashPassword("etserver dummy password", s.passwordParams)
	if err != nil {
		return nil, fmt.Errorf("app: Options.PasswordParams: %w", err)
	}
	s.dummyHash = h
	return s, nil
}

// ValueMaxBytes returns the value size limit in force.
func (s *Service) ValueMaxBytes() int { return s.valueMax }

// MaxConcurrentHashes returns the bound on password checks running at once.
func (s *Service) MaxConcurrentHashes() int { return cap(s.hashSlots) }

// PasswordParams returns the argon2id cost of the hashes the Service writes.
func (s *Service) PasswordParams() domain.PasswordParams { return s.passwordParams }

// SessionTTL returns the session lifetime in force.
func (s *Service) SessionTTL() time.Duration { return s.sessionTTL }
