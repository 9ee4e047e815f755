// Package redis implements domain.Sessions, domain.KV and a shared domain.RateLimiter on
// Redis with go-redis/v9 (and go-redis/redis_rate/v10 for the limiter).
//
// Keys (Prefix defaults to DefaultPrefix):
//
//	<prefix>s:<session id>          session: "<user id>:<expiry unix ms>:<username>", expiring then (PXAT)
//	<prefix>kv:{<user id>}:<key>    a user's value; the braces keep one user's keys in one cluster slot
//	rate:<prefix>rl:<bucket>        redis_rate's GCRA state (its own "rate:" prefix)
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"

	"github.com/seed857a6cbd/pocket/entrytask-server/domain"
)

// DefaultPrefix is the key prefix when Options.Prefix is "".
const DefaultPrefix = "et:"

// Options configure Open; zero values mean the default named beside each field.
type Options struct {
	Addr     string // host:port; required
	Password string // AUTH password; "" means none
	DB       int    // database number; 0 is the default database
	PoolSize int    // connections; 0 means go-redis's default (10 per GOMAXPROCS)
	Prefix   string // key prefix; "" means DefaultPrefix
	// DisableAutoPipeline sends every command as its own round trip. By default, once more
	// than a few session and value reads and value writes (GET, SET) are in flight, the next
	// ones go through go-redis's autopipeliner, which sends the commands of concurrent calls
	// to Redis as one pipeline (one write and one read system call for many calls, on both
	// sides), cutting the CPU per call of etserver and Redis several times under load; below
	// that, each is sent at once on a pooled connection (see autoPipelineAbove). Deletes
	// (whose count must not be replayed) and session writes never use it.
	DisableAutoPipeline bool
	// Logger receives the session watch's connection losses (WatchSessions); nil discards
	// them.
	Logger *slog.Logger
}

// Store is the Redis session and key/value store. It is safe for concurrent use.
type Store struct {
	log     *slog.Logger
	rdb     *goredis.Client
	ap      *goredis.AutoPipeliner // nil: autopipelining off
	busy    atomic.Int32           // hot commands in flight
	prefix  string
	limiter *redis_rate.Limiter
}

// Open connects to Redis and pings it.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Addr == "" {
		return nil, errors.New("redis: address is empty")
	}
	// RESP2: etserver uses no RESP3 feature (push notifications, client-side caching), and
	// with RESP2 go-redis skips looking for push notifications before every reply (~5 % of
	// etserver's CPU at 12 callers).
	rdb := goredis.NewClient(&goredis.Options{Addr: opts.Addr, Password: opts.Password, DB: opts.DB, PoolSize: opts.PoolSize, Protocol: 2})
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis: connecting to %s: %w", opts.Addr, err)
	}
	s, err := newStore(rdb, opts.Prefix, !opts.DisableAutoPipeline)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	if opts.Logger != nil {
		s.log = opts.Logger
	}
	return s, nil
}

// New wraps an existing client, with hot commands autopipelined (see
// Options.DisableAutoPipeline); prefix "" means DefaultPrefix. Close closes the client.
func New(rdb *goredis.Client, prefix string) *Store {
	s, err := newStore(rdb, prefix, true)
	if err != nil {
		// The default autopipeliner configuration is valid; a client that cannot build one
		// (closed already) fails its commands the same way without it.
		s, _ = newStore(rdb, prefix, false)
	}
	return s
}

func newStore(rdb *goredis.Client, prefix string, autoPipeline bool) (*Store, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	s := &Store{log: slog.New(slog.DiscardHandler), rdb: rdb, prefix: prefix, limiter: redis_rate.NewLimiter(rdb)}
	if autoPipeline {
		ap, err := rdb.AutoPipeline()
		if err != nil {
			return nil, fmt.Errorf("redis: autopipeline: %w", err)
		}
		s.ap = ap
	}
	return s, nil
}

// Client returns the underlying client (pool statistics, tests).
func (s *Store) Client() *goredis.Client { return s.rdb }

// Prefix returns the key prefix in use.
func (s *Store) Prefix() string { return s.prefix }

// Close closes the client's pool.
func (s *Store) Close() error { return s.rdb.Close() }

// Ping checks the connection.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}

// autoPipelineAbove is how many hot commands may be in flight before the next one goes
// through the autopipeliner rather than straight to a pooled connection.
//
// go-redis's autopipeliner holds a command that arrives while a batch is executing until
// more arrive or a silence gap passes (at least 200 µs, which Go's timers round up to a
// millisecond in a quiet process, up to three gaps). That batches the waves of a busy
// server well, but at moderate load, when commands arrive one by one, it made most of them
// wait: at 10,000 reads/s (open loop, 12 in flight) etserver answered in 0.65 ms at the
// median with every command autopipelined, 0.12 ms with this threshold. Under load the
// commands of concurrent calls still share pipelines.
const autoPipelineAbove = 4

// hot returns the client for a GET or SET of the hot path: the plain client while at most
// autoPipelineAbove such commands are in flight (this one included), else the
// autopipeliner. Commands the autopipeliner holds back count too: counting only those on
// the plain client sent more to it and measured worse (p99 at 12 callers 0.54 → 0.66 ms,
// 100 callers 92k → 83k reads/s). The caller must run s.busy.Add(-1) once the command has
// completed (deferred, so that a panic in go-redis or a hook, which dora recovers, does not
// leave it counted).
func (s *Store) hot() goredis.StringCmdable {
	if n := s.busy.Add(1); s.ap != nil && n > autoPipelineAbove {
		return s.ap
	}
	return s.rdb
}

func (s *Store) hotGet(ctx context.Context, key string) (string, error) {
	defer s.busy.Add(-1)
	return s.hot().Get(ctx, key).Result()
}

func (s *Store) hotSet(ctx context.Context, key string, value []byte) error {
	defer s.busy.Add(-1)
	return s.hot().Set(ctx, key, value, 0).Err()
}

func (s *Store) sessionKey(id string) string { return s.prefix + "s:" + id }

func (s *Store) kvKey(userID int64, key string) string {
	b := make([]byte, 0, len(s.prefix)+26+len(key))
	b = append(b, s.prefix...)
	b = append(b, "kv:{"...)
	b = strconv.AppendInt(b, userID, 10)
	b = append(b, "}:"...)
	b = append(b, key...)
	return unsafe.String(unsafe.SliceData(b), len(b)) // b is not used again
}

// CreateSession implements domain.Sessions: SET with PXAT ExpiresAt, so Redis drops the
// session at that instant (immediately if it has passed).
func (s *Store) CreateSession(ctx context.Context, sess domain.Session) error {
	at := max(sess.ExpiresAt.UnixMilli(), 1)
	val := strconv.FormatInt(sess.UserID, 10) + ":" + strconv.FormatInt(at, 10) + ":" + sess.Username
	if err := s.rdb.Do(ctx, "SET", s.sessionKey(sess.ID), val, "PXAT", at).Err(); err != nil {
		return fmt.Errorf("redis: creating session: %w", err)
	}
	return nil
}

// SessionByID implements domain.Sessions.
func (s *Store) SessionByID(ctx context.Context, id string) (domain.Session, error) {
	v, err := s.hotGet(ctx, s.sessionKey(id))
	if errors.Is(err, goredis.Nil) {
		return domain.Session{}, domain.ErrSessionNotFound
	}
	if err != nil {
		return domain.Session{}, fmt.Errorf("redis: session: %w", err)
	}
	uid, rest, ok1 := strings.Cut(v, ":")
	exp, name, ok2 := strings.Cut(rest, ":")
	id64, err1 := strconv.ParseInt(uid, 10, 64)
	ms, err2 := strconv.ParseInt(exp, 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil {
		return domain.Session{}, fmt.Errorf("redis: session %s: malformed value", id)
	}
	return domain.Session{ID: id, UserID: id64, Username: name, ExpiresAt: time.UnixMilli(ms)}, nil
}

// DeleteSession implements domain.Sessions.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if err := s.rdb.Del(ctx, s.sessionKey(id)).Err(); err != nil {
		return fmt.Errorf("redis: deleting session: %w", err)
	}
	return nil
}

// Get implements domain.KV. The value shares its memory with the Redis reply, which
// nothing else holds; callers read it (the API marshals it) and must not modify it.
func (s *Store) Get(ctx context.Context, userID int64, key string) ([]byte, error) {
	v, err := s.hotGet(ctx, s.kvKey(userID, key))
	if errors.Is(err, goredis.Nil) {
		return nil, domain.ErrKeyNotExist
	}
	if err != nil {
		return nil, fmt.Errorf("redis: get: %w", err)
	}
	if len(v) == 0 {
		return []byte{}, nil
	}
	// The reply's string was allocated for this command alone and is not kept by go-redis:
	// hand its bytes over instead of copying them (values are up to a MiB).
	return unsafe.Slice(unsafe.StringData(v), len(v)), nil
}

// Put implements domain.KV (SET without expiry). Its durability is the Redis server's
// persistence setting (appendonly/appendfsync).
func (s *Store) Put(ctx context.Context, userID int64, key string, value []byte) error {
	if err := s.hotSet(ctx, s.kvKey(userID, key), value); err != nil {
		return fmt.Errorf("redis: put: %w", err)
	}
	return nil
}

// Delete implements domain.KV.
func (s *Store) Delete(ctx context.Context, userID int64, key string) error {
	n, err := s.rdb.Del(ctx, s.kvKey(userID, key)).Result()
	if err != nil {
		return fmt.Errorf("redis: delete: %w", err)
	}
	if n == 0 {
		return domain.ErrKeyNotExist
	}
	return nil
}

// Allow implements domain.RateLimiter with redis_rate's GCRA, shared by every etserver
// instance using the same Redis and prefix.
func (s *Store) Allow(ctx context.Context, key string, limit domain.Limit) (domain.Decision, error) {
	res, err := s.gcra(ctx, key, limit, 1)
	if err != nil {
		return domain.Decision{}, err
	}
	if res.Allowed > 0 {
		return domain.Decision{Allowed: true}, nil
	}
	retry := res.RetryAfter
	if retry <= 0 {
		retry = time.Millisecond
	}
	return domain.Decision{RetryAfter: retry}, nil
}

// Peek implements domain.RateLimiter: redis_rate's GCRA with a cost of 0, which reads the
// bucket's state (Remaining whole tokens, ResetAfter until it is full) without taking a
// token or creating the key.
func (s *Store) Peek(ctx context.Context, key string, limit domain.Limit) (domain.Decision, error) {
	res, err := s.gcra(ctx, key, limit, 0)
	if err != nil {
		return domain.Decision{}, err
	}
	if res.Remaining >= 1 {
		return domain.Decision{Allowed: true}, nil
	}
	// The bucket is full ResetAfter from now and gains a token every 1/Rate seconds, so
	// it holds one token (Burst-1)/Rate seconds before it is full.
	retry := res.ResetAfter - time.Duration(limit.Burst-1)*time.Second/time.Duration(limit.Rate)
	return domain.Decision{RetryAfter: max(retry, time.Millisecond)}, nil
}

// gcra runs redis_rate's GCRA on key's bucket at a cost of n tokens (0 only reads it), for
// Allow and Peek; a limit that is not positive is an error.
func (s *Store) gcra(ctx context.Context, key string, limit domain.Limit, n int) (*redis_rate.Result, error) {
	if limit.Rate <= 0 || limit.Burst <= 0 {
		return nil, fmt.Errorf("redis: limit %d/s burst %d must be positive", limit.Rate, limit.Burst)
	}
	res, err := s.limiter.AllowN(ctx, s.prefix+"rl:"+key, redis_rate.Limit{Rate: limit.Rate, Burst: limit.Burst, Period: time.Second}, n)
	if err != nil {
		return nil, fmt.Errorf("redis: rate limit: %w", err)
	}
	return res, nil
}
