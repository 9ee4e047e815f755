package domain

import (
	"context"
	"time"
)

// Accounts stores users (MySQL or SQLite).
type Accounts interface {
	// UserByUsername returns the user, or ErrUserNotFound.
	UserByUsername(ctx context.Context, username string) (User, error)
	// CreateUser inserts one user, or returns ErrUserExists.
	CreateUser(ctx context.Context, username, passwordHash string) (User, error)
	// CreateAccounts inserts users and their quotas with multi-row inserts in one
	// transaction; usernames that already exist are skipped (their quota is left alone).
	// It returns how many users were created.
	CreateAccounts(ctx context.Context, accounts []NewAccount) (int, error)
	// ExistingUsernames returns the subset of usernames that already exist.
	ExistingUsernames(ctx context.Context, usernames []string) (map[string]bool, error)
	// UpdatePasswordHash replaces the user's hash with newHash. With oldHash != "" it does
	// so only if the stored hash is still oldHash (a compare-and-set, so that a login
	// upgrading an outdated hash never overwrites a password changed meanwhile) and
	// reports false otherwise. It returns ErrUserNotFound for an unknown user id.
	UpdatePasswordHash(ctx context.Context, userID int64, oldHash, newHash string) (bool, error)
	// DeleteUser removes the user and its quota row, or returns ErrUserNotFound.
	DeleteUser(ctx context.Context, username string) (User, error)
	// ListUsers returns up to limit users whose usernames sort after `after` (byte
	// order; "" starts at the beginning), in that order.
	ListUsers(ctx context.Context, after string, limit int) ([]User, error)
}

// Quotas stores per-user quotas (the `quota` table of MySQL or SQLite).
type Quotas interface {
	// QuotaOf returns the user's quota, or ErrQuotaNotFound.
	QuotaOf(ctx context.Context, userID int64) (Quota, error)
	// SetQuota creates or replaces the user's quota.
	SetQuota(ctx context.Context, userID int64, q Quota) error
}

// Sessions stores sessions by id (Token.SessionID) until they expire (Redis or SQLite).
type Sessions interface {
	// CreateSession stores s until s.ExpiresAt; a session whose ExpiresAt has passed is
	// never returned.
	CreateSession(ctx context.Context, s Session) error
	// SessionByID returns the session, or ErrSessionNotFound if unknown or expired.
	SessionByID(ctx context.Context, id string) (Session, error)
	// DeleteSession removes the session; deleting an unknown one is not an error.
	DeleteSession(ctx context.Context, id string) error
}

// KV stores each user's key/value pairs in a namespace of their own (Redis or SQLite).
// Implementations do not check sizes; the use cases do.
type KV interface {
	// Get returns the value, or ErrKeyNotExist.
	Get(ctx context.Context, userID int64, key string) ([]byte, error)
	// Put creates or replaces the value. When Put returns nil the write is durable as far
	// as the store promises (SQLite: on disk; Redis: as configured on the server).
	Put(ctx context.Context, userID int64, key string, value []byte) error
	// Delete removes the key, or returns ErrKeyNotExist.
	Delete(ctx context.Context, userID int64, key string) error
}

// Pinger is implemented by stores that can check their connection (readiness probes).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Limit is a token bucket: Rate tokens per second, up to Burst tokens stored.
type Limit struct {
	Rate  int // tokens per second, > 0
	Burst int // bucket size, > 0
}

// Decision is a rate limiter's answer to one call.
type Decision struct {
	Allowed    bool          // the call may proceed
	RetryAfter time.Duration // when not allowed: the wait until it would be; else 0
}

// RateLimiter keeps token buckets by name. Implementations: local (golang.org/x/time/rate,
// per instance) and shared (Redis GCRA). Both return an error for a limit that is not
// positive.
type RateLimiter interface {
	// Allow takes one token from the bucket named key, creating it full on first use.
	Allow(ctx context.Context, key string, limit Limit) (Decision, error)
	// Peek reports whether Allow would admit a call now, without taking a token and
	// without creating a bucket (a bucket never used is full). The login throttle peeks
	// before a password check and takes a token only when the check fails, so it counts
	// failed attempts only.
	Peek(ctx context.Context, key string, limit Limit) (Decision, error)
}

// SessionWatcher is implemented by session stores that several processes share and that
// can report changes to stored sessions made by any of them (Redis, through server-assisted
// invalidation). Caches of sessions use it to drop an entry as soon as the session changes
// or ends anywhere.
type SessionWatcher interface {
	// WatchSessions reports changes to o until ctx ends, then returns ctx's error. It calls
	// o.SessionsWatched(true) each time reporting (re)starts and o.SessionsWatched(false)
	// whenever changes may be missed (a lost connection), and keeps reconnecting meanwhile.
	WatchSessions(ctx context.Context, o SessionObserver) error
}

// SessionObserver receives what a SessionWatcher reports. Its methods are called from one
// goroutine at a time and must return quickly.
type SessionObserver interface {
	// SessionsWatched(true) says every change from now on is reported; sessions learnt
	// before may have changed meanwhile. SessionsWatched(false) says changes may be missed
	// from now on.
	SessionsWatched(on bool)
	// SessionsChanged says the sessions with these ids were created, replaced or removed.
	// ids is valid only during the call.
	SessionsChanged(ids []string)
}
