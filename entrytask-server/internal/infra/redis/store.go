// Package redis implements domain.Sessions, domain.KV and a shared domain.RateLimiter on
// Redis with go-redis/v9 (and go-redis/redis_rate/v10 for the limiter), through go-redis's
// UniversalClient, so that the same Store runs on one Redis node (Options.Addr), a Redis
// Cluster (Options.Addrs) or a primary watched by Redis Sentinel (Options.MasterName and
// the sentinels in Options.Addrs):
//
//	s, err := redis.Open(ctx, redis.Options{Addrs: []string{"10.0.0.1:6379", "10.0.0.2:6379"}})
//
// Every command etserver sends names one key, so none needs two keys in one cluster slot;
// a user's values still share a slot (the hash tag {<user id>}), so that a future command
// over several of one user's keys works on a cluster.
//
// Opt-in, Options.ValueCacheBytes keeps the values Get reads in process, coherent with
// Redis through server-assisted client-side caching (see Options.ValueCacheBytes and
// WatchValues); the session cache above this package is kept coherent the same way
// (WatchSessions).
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

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
)

// DefaultPrefix is the key prefix when Options.Prefix is "".
const DefaultPrefix = "et:"

// The modes of a Store, as Store.Mode reports them.
const (
	ModeSingle   = "single"   // one Redis node (Options.Addr)
	ModeCluster  = "cluster"  // Redis Cluster (Options.Addrs)
	ModeSentinel = "sentinel" // a primary found through Redis Sentinel (Options.MasterName)
)

// Options configure Open; zero values mean the default named beside each field. Exactly
// one of Addr and Addrs is set: Addr selects ModeSingle, Addrs ModeCluster, Addrs with
// MasterName ModeSentinel.
type Options struct {
	Addr string // host:port of a single Redis node
	// Addrs are the seed nodes of a Redis Cluster (any subset of its nodes: go-redis
	// learns the rest from CLUSTER SLOTS), or, with MasterName, the sentinels' host:port.
	Addrs []string
	// MasterName is the name the sentinels monitor the primary under ("sentinel monitor
	// NAME ..."); it selects ModeSentinel. Commands go to the primary the sentinels name,
	// and follow it when they fail over.
	MasterName string
	Password   string // AUTH password (of the data nodes, not of the sentinels); "" means none
	DB         int    // database number; 0 is the default database; must be 0 on a cluster
	PoolSize   int    // connections; 0 means go-redis's default (10 per GOMAXPROCS)
	Prefix     string // key prefix; "" means DefaultPrefix
	// DisableAutoPipeline sends every command as its own round trip. By default, once more
	// than a few session and value reads and value writes (GET, SET) are in flight, the next
	// ones go through go-redis's autopipeliner, which sends the commands of concurrent calls
	// to Redis as one pipeline (one write and one read system call for many calls, on both
	// sides), cutting the CPU per call of etserver and Redis several times under load; below
	// that, each is sent at once on a pooled connection (see autoPipelineAbove). Deletes
	// (whose count must not be replayed) and session writes never use it.
	DisableAutoPipeline bool
	// Logger receives the watch's connection losses (WatchSessions, WatchValues); nil
	// discards them.
	Logger *slog.Logger
	// ValueCacheBytes turns on the value cache: Get keeps the values it reads, at most
	// this many bytes of them (each entry counts its key's and value's bytes plus
	// ValueEntryOverhead; least recently used entries go first; a value larger than a
	// quarter of it is never kept), and answers from it while a watch runs (WatchSessions
	// or WatchValues, see there) and Redis is reporting every change to the value keys.
	// Default 0: off, every Get reads Redis. Negative is an error.
	//
	// Coherence: a Get on this Store after its own Put or Delete returned sees that write;
	// a change made through another client (another etserver instance) is seen once Redis's
	// invalidation message has reached this process (its transit, well under a millisecond
	// on a LAN), and until then a Get may return the value before the change. While the
	// watch is down or not yet subscribed the cache is empty and bypassed. A watch
	// connection that stops delivering without an error (a network partition) is given up
	// after two seconds of silence (a ping after one, unanswered for another), and for
	// that long a Get may return a value changed elsewhere.
	ValueCacheBytes int64
}

// Store is the Redis session and key/value store. It is safe for concurrent use.
type Store struct {
	log     *slog.Logger
	rdb     goredis.UniversalClient // *goredis.Client (single, sentinel) or *goredis.ClusterClient
	ap      *goredis.AutoPipeliner  // nil: autopipelining off
	busy    atomic.Int32            // hot commands in flight
	prefix  string
	limiter *redis_rate.Limiter
	values  *valueCache // nil: the value cache is off (Options.ValueCacheBytes)
	// fillHook, when set (tests), runs in Get between a missed lookup's Redis read and its
	// store into the value cache.
	fillHook func(key string)
}

// Open connects to Redis in the mode opts select and pings it (on a cluster, every
// master). It fails on options that select no mode or two, and on a negative
// ValueCacheBytes.
func Open(ctx context.Context, opts Options) (*Store, error) {
	mode, err := opts.mode()
	if err != nil {
		return nil, err
	}
	if opts.ValueCacheBytes < 0 {
		return nil, fmt.Errorf("redis: ValueCacheBytes %d is negative (0 turns the value cache off)", opts.ValueCacheBytes)
	}
	// RESP2: etserver uses no RESP3 feature (push notifications, client-side caching), and
	// with RESP2 go-redis skips looking for push notifications before every reply (~5 % of
	// etserver's CPU at 12 callers).
	uo := &goredis.UniversalOptions{Addrs: opts.Addrs, MasterName: opts.MasterName, Password: opts.Password,
		DB: opts.DB, PoolSize: opts.PoolSize, Protocol: 2, IsClusterMode: mode == ModeCluster}
	if mode == ModeSingle {
		uo.Addrs = []string{opts.Addr}
	}
	rdb := goredis.NewUniversalClient(uo)
	if cc, ok := rdb.(*goredis.ClusterClient); ok {
		cc.AddHook(clusterReload{cc})
	}
	s, err := newStore(rdb, opts.Prefix, !opts.DisableAutoPipeline)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	if err := s.Ping(ctx); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis: connecting to %s (%s): %w", strings.Join(uo.Addrs, ","), mode, err)
	}
	if opts.Logger != nil {
		s.log = opts.Logger
	}
	if opts.ValueCacheBytes > 0 {
		s.values = newValueCache(opts.ValueCacheBytes)
	}
	return s, nil
}

// mode returns the mode o selects, or why it selects none.
func (o Options) mode() (string, error) {
	switch {
	case o.Addr != "" && len(o.Addrs) > 0:
		return "", errors.New("redis: both Addr and Addrs are set; Addr is one node, Addrs a cluster or the sentinels")
	case o.MasterName != "" && len(o.Addrs) == 0:
		return "", errors.New("redis: MasterName needs the sentinels' addresses in Addrs")
	case o.MasterName != "":
		return ModeSentinel, nil
	case len(o.Addrs) > 0 && o.DB != 0:
		return "", fmt.Errorf("redis: DB %d on a cluster, which has database 0 only", o.DB)
	case len(o.Addrs) > 0:
		return ModeCluster, nil
	case o.Addr != "":
		return ModeSingle, nil
	}
	return "", errors.New("redis: address is empty (set Addr, or Addrs for a cluster or sentinels)")
}

// New wraps an existing client (a *goredis.Client, also one from NewFailoverClient, or a
// *goredis.ClusterClient), with hot commands autopipelined (see
// Options.DisableAutoPipeline) and no value cache; prefix "" means DefaultPrefix. Close
// closes the client.
func New(rdb goredis.UniversalClient, prefix string) *Store {
	s, err := newStore(rdb, prefix, true)
	if err != nil {
		// The default autopipeliner configuration is valid; a client that cannot build one
		// (closed already) fails its commands the same way without it.
		s, _ = newStore(rdb, prefix, false)
	}
	return s
}

func newStore(rdb goredis.UniversalClient, prefix string, autoPipeline bool) (*Store, error) {
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

// Client returns the underlying client (pool statistics, tests): a *goredis.Client for a
// single node or Sentinel, a *goredis.ClusterClient for a cluster.
func (s *Store) Client() goredis.UniversalClient { return s.rdb }

// ValueCacheStats returns the value cache's state and counters, and false when the cache is
// off (Options.ValueCacheBytes 0).
func (s *Store) ValueCacheStats() (ValueCacheStats, bool) {
	if s.values == nil {
		return ValueCacheStats{}, false
	}
	return s.values.snapshot(), true
}

// Mode returns ModeSingle, ModeCluster or ModeSentinel.
func (s *Store) Mode() string {
	switch c := s.rdb.(type) {
	case *goredis.ClusterClient:
		return ModeCluster
	case *goredis.Client:
		if c.Options().Addr == failoverAddr {
			return ModeSentinel
		}
	}
	return ModeSingle
}

// failoverAddr is what go-redis puts in the Options.Addr of a client NewFailoverClient
// made (the address it dials is the sentinels' current primary).
const failoverAddr = "FailoverClient"

// Prefix returns the key prefix in use.
func (s *Store) Prefix() string { return s.prefix }

// Close closes the client's pool.
func (s *Store) Close() error { return s.rdb.Close() }

// Ping checks the connection: of a cluster, to every master (a cluster with a master
// down answers for only some users' keys).
func (s *Store) Ping(ctx context.Context) error {
	var err error
	if cc, ok := s.rdb.(*goredis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
			if err := c.Ping(ctx).Err(); err != nil {
				return fmt.Errorf("%s: %w", c.Options().Addr, err)
			}
			return nil
		})
	} else {
		err = s.rdb.Ping(ctx).Err()
	}
	if err != nil {
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
// nothing else holds, or, with the value cache on (Options.ValueCacheBytes), with the
// cached entry, which every Get of the key returns until it goes; callers read it (the API
// marshals it) and must not modify it. With the value cache on, a Get that finds the key
// cached (while the watch is live) sends nothing to Redis; a missing key is never cached.
func (s *Store) Get(ctx context.Context, userID int64, key string) ([]byte, error) {
	k := s.kvKey(userID, key)
	var seq uint64
	if s.values != nil {
		v, hit, n := s.values.lookup(k)
		if hit {
			return v, nil
		}
		seq = n
	}
	v, err := s.hotGet(ctx, k)
	if errors.Is(err, goredis.Nil) {
		return nil, domain.ErrKeyNotExist
	}
	if err != nil {
		return nil, fmt.Errorf("redis: get: %w", err)
	}
	b := []byte{}
	if len(v) > 0 {
		// The reply's string was allocated for this command alone and is not kept by
		// go-redis: hand its bytes over instead of copying them (values are up to a MiB).
		b = unsafe.Slice(unsafe.StringData(v), len(v))
	}
	if s.values != nil {
		if s.fillHook != nil {
			s.fillHook(k)
		}
		s.values.put(k, b, seq) // not if a change was reported since the lookup
	}
	return b, nil
}

// Put implements domain.KV (SET without expiry). Its durability is the Redis server's
// persistence setting (appendonly/appendfsync). With the value cache on, the key's entry
// goes once the SET is answered (or failed), so that a Get on this Store after Put
// returned reads the new value.
func (s *Store) Put(ctx context.Context, userID int64, key string, value []byte) error {
	k := s.kvKey(userID, key)
	err := s.hotSet(ctx, k, value)
	if s.values != nil {
		// Also on failure: the SET may have been applied without its answer arriving.
		s.values.changed(k)
	}
	if err != nil {
		return fmt.Errorf("redis: put: %w", err)
	}
	return nil
}

// Delete implements domain.KV. With the value cache on, the key's entry goes once the DEL
// is answered (or failed), as for Put.
func (s *Store) Delete(ctx context.Context, userID int64, key string) error {
	k := s.kvKey(userID, key)
	n, err := s.rdb.Del(ctx, k).Result()
	if s.values != nil {
		s.values.changed(k)
	}
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

// clusterReload is the hook Open adds to a cluster client: a command or pipeline that
// fails without a Redis reply (a refused or lost connection, a timeout: a master down)
// makes the client reload the slot map at once. go-redis reloads it on MOVED replies and
// otherwise only every ClusterStateReloadInterval (60 s), so without this the slots of a
// failed master would stay pointed at it for up to a minute after its replica took over.
// go-redis runs one reload at a time and at most one every 200 ms, whatever the rate of
// failures.
type clusterReload struct{ cc *goredis.ClusterClient }

func (h clusterReload) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h clusterReload) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		err := next(ctx, cmd)
		h.check(err)
		return err
	}
}

func (h clusterReload) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		err := next(ctx, cmds)
		h.check(err)
		return err
	}
}

func (h clusterReload) check(err error) {
	var reply goredis.Error
	if err == nil || errors.Is(err, goredis.Nil) || errors.Is(err, context.Canceled) || errors.As(err, &reply) {
		return
	}
	h.cc.ReloadState(context.Background())
}
