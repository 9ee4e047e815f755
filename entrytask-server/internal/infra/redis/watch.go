package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
)

// invalidateChannel is where Redis publishes the keys a tracking client must forget.
const invalidateChannel = "__redis__:invalidate"

// Watch timing: the watch connection is pinged when it has been silent for watchPing and
// given up when the next watchPing passes without an answer; a lost connection is retried
// after watchRetryMin, doubling up to watchRetryMax.
const (
	watchPing     = time.Second
	watchRetryMin = 50 * time.Millisecond
	watchRetryMax = 2 * time.Second
)

var _ domain.SessionWatcher = (*Store)(nil)

// WatchClientName is the connection name (CLIENT SETNAME) of the watch connection (of
// sessions, values or both) of a Store with this key prefix, as CLIENT LIST shows it:
// "etserver-watch:" and the prefix, with characters other than printable ASCII and spaces
// replaced by '_'.
func WatchClientName(prefix string) string {
	b := []byte("etserver-watch:" + prefix)
	for i, c := range b {
		if c <= ' ' || c > '~' {
			b[i] = '_'
		}
	}
	return string(b)
}

// WatchSessions implements domain.SessionWatcher with Redis's server-assisted client-side
// caching in broadcast mode: a dedicated connection (RESP2) turns on
//
//	CLIENT TRACKING ON REDIRECT <its own id> BCAST PREFIX <prefix>s:
//
// and subscribes to __redis__:invalidate, so that Redis publishes there every session key
// that any client sets or deletes, and every one that expires or is evicted. Once the
// subscription is confirmed o hears SessionsWatched(true); on any error (a lost
// connection, a ping unanswered for a second, FLUSHALL's key-less message) it hears
// SessionsWatched(false) and the connection is re-established with a backoff.
//
// Tracking reports only the keys of the node it runs on, so the mode decides where:
//
//   - single node: one connection to it;
//   - Sentinel: one connection to the primary the sentinels name (dialled through them, so
//     a reconnection after a failover reaches the new primary);
//   - Cluster: per-node tracking, one connection to every master (the masters of
//     CLUSTER SLOTS); o hears SessionsWatched(true) once all of them are subscribed, and
//     SessionsWatched(false) as soon as one is lost or the set of masters changes (checked
//     every second: a failover, a resharding), after which every master is subscribed
//     again. Replicas are not watched: a session key only changes on its master.
//
// Redis queues the invalidation of a deleted session before it answers the command that
// deleted it, so the report reaches this process within the time the message takes to
// travel (well under a millisecond on a LAN); only a call that arrives here in that
// interval can still be accepted.
//
// With the value cache on (Options.ValueCacheBytes) the same connections also track the
// value keys (PREFIX <prefix>s: PREFIX <prefix>kv:, one CLIENT TRACKING may name several
// prefixes) and keep the value cache coherent the same way: it answers only while every
// connection is subscribed, drops a key when Redis reports it, and is emptied and bypassed
// while they are down. One connection per node for both, rather than a watch each: half
// the connections and pings, and one loss detection that turns both caches off together.
// Then run WatchValues only when WatchSessions is not running.
func (s *Store) WatchSessions(ctx context.Context, o domain.SessionObserver) error {
	if o == nil {
		return errors.New("redis: WatchSessions: nil observer")
	}
	return s.watch(ctx, &watchTargets{sessions: o, values: s.values, sessPrefix: s.sessionKey(""), kvPrefix: s.prefix + "kv:"})
}

// WatchValues keeps the value cache (Options.ValueCacheBytes) coherent with Redis until
// ctx ends, then returns ctx's error, as WatchSessions does for values when no session
// cache needs watching: a connection per node (every master of a cluster) tracks
// "CLIENT TRACKING ON REDIRECT <its own id> BCAST PREFIX <prefix>kv:"; the cache answers
// only while it is subscribed. It returns at once with an error when the value cache is
// off. Run it in its own goroutine, and not while WatchSessions runs (which covers the
// values already: a second watch would only double the connections and messages).
func (s *Store) WatchValues(ctx context.Context) error {
	if s.values == nil {
		return errors.New("redis: WatchValues: the value cache is off (Options.ValueCacheBytes is 0)")
	}
	return s.watch(ctx, &watchTargets{values: s.values, kvPrefix: s.prefix + "kv:"})
}

// watchTargets are what a watch reports to: the session observer (nil: sessions are not
// tracked) and the value cache (nil: values are not tracked).
type watchTargets struct {
	sessions   domain.SessionObserver
	values     *valueCache
	sessPrefix string // <prefix>s:
	kvPrefix   string // <prefix>kv:
}

// watched tells every target whether changes are reported from now on.
func (t *watchTargets) watched(on bool) {
	if t.values != nil {
		t.values.watched(on) // first: a test waiting on the session observer finds it done
	}
	if t.sessions != nil {
		t.sessions.SessionsWatched(on)
	}
}

// prefixes returns the arguments of CLIENT TRACKING naming the tracked key prefixes.
func (t *watchTargets) prefixes() []any {
	var args []any
	if t.sessions != nil {
		args = append(args, "PREFIX", t.sessPrefix)
	}
	if t.values != nil {
		args = append(args, "PREFIX", t.kvPrefix)
	}
	return args
}

// names returns the watch's name and its caches' for logs and errors.
func (t *watchTargets) names() (watch, caches string) {
	switch {
	case t.sessions != nil && t.values != nil:
		return "session and value watch", "the session and value caches are"
	case t.values != nil:
		return "value watch", "the value cache is"
	}
	return "session watch", "the session cache is"
}

// watch runs WatchSessions and WatchValues.
func (s *Store) watch(ctx context.Context, t *watchTargets) error {
	name, caches := t.names()
	var once func(ctx context.Context, failing bool) (bool, error)
	switch c := s.rdb.(type) {
	case *goredis.ClusterClient:
		once = func(ctx context.Context, failing bool) (bool, error) {
			return s.watchCluster(ctx, c, t, failing)
		}
	case *goredis.Client:
		opt := c.Options()
		client := goredis.NewClient(s.watchOptions(t, opt.Network, opt.Addr, opt.Dialer, opt.TLSConfig, opt.Username, opt.Password,
			opt.DB, opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout))
		defer client.Close()
		once = func(ctx context.Context, failing bool) (bool, error) {
			return s.watchOnce(ctx, client, t, func() {
				if failing {
					s.log.Info("redis: " + name + " is back; " + caches + " in use")
				}
				t.watched(true)
			})
		}
	default:
		return fmt.Errorf("redis: %s: client %T not supported", name, s.rdb)
	}
	t.watched(false)
	retry := watchRetryMin
	failing := false // the last attempt failed and was logged
	for {
		watched, err := once(ctx, failing)
		t.watched(false)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if watched {
			retry = watchRetryMin
		}
		if watched || !failing {
			s.log.Warn("redis: "+name+" lost; "+caches+" bypassed until it is back",
				"err", err, "retry_in", retry)
			failing = true
		}
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		retry = min(2*retry, watchRetryMax)
	}
}

// watchOptions returns the options of a watch connection to one node (addr, dialled with
// dialer when set): one connection, never retried by go-redis (the watch loop retries),
// tracking turned on as it connects.
func (s *Store) watchOptions(t *watchTargets, network, addr string, dialer func(context.Context, string, string) (net.Conn, error),
	tlsCfg *tls.Config, username, password string, db int, dial, read, write time.Duration) *goredis.Options {
	return &goredis.Options{
		Network: network, Addr: addr, Dialer: dialer, TLSConfig: tlsCfg,
		Username: username, Password: password, DB: db,
		Protocol: 2, PoolSize: 1, MaxRetries: -1, DisableIdentity: true,
		DialTimeout: dial, ReadTimeout: read, WriteTimeout: write,
		OnConnect: func(ctx context.Context, cn *goredis.Conn) error {
			id, err := cn.ClientID(ctx).Result()
			if err != nil {
				return fmt.Errorf("redis: watch: CLIENT ID: %w", err)
			}
			if err := cn.ClientSetName(ctx, WatchClientName(s.prefix)).Err(); err != nil {
				return fmt.Errorf("redis: watch: CLIENT SETNAME: %w", err)
			}
			args := append([]any{"CLIENT", "TRACKING", "ON", "REDIRECT", strconv.FormatInt(id, 10), "BCAST"}, t.prefixes()...)
			if err := cn.Do(ctx, args...).Err(); err != nil {
				return fmt.Errorf("redis: watch: CLIENT TRACKING: %w", err)
			}
			return nil
		},
	}
}

// errMastersChanged ends a cluster watch whose set of masters is no longer the cluster's.
var errMastersChanged = errors.New("redis: watch: the cluster's masters changed")

// watchCluster watches every master of the cluster until one watch ends or the set of
// masters changes; watched says whether all were subscribed at some point.
func (s *Store) watchCluster(ctx context.Context, cc *goredis.ClusterClient, t *watchTargets, failing bool) (watched bool, err error) {
	masters, err := clusterMasters(ctx, cc)
	if err != nil {
		return false, err
	}
	opt := cc.Options()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	ends := make(chan error, len(masters))
	subscribed := make(chan struct{}, len(masters)) // one report per master
	for _, addr := range masters {
		client := goredis.NewClient(s.watchOptions(t, "tcp", addr, opt.Dialer, opt.TLSConfig, opt.Username, opt.Password,
			0, opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout))
		wg.Go(func() {
			defer client.Close()
			// A master passes its changes on before all are subscribed: harmless, as the
			// caches are not in use until then.
			_, err := s.watchOnce(ctx, client, t, func() { subscribed <- struct{}{} })
			ends <- fmt.Errorf("master %s: %w", addr, err)
		})
	}
	tick := time.NewTicker(watchPing)
	defer tick.Stop()
	pending := len(masters)
	for {
		select {
		case <-subscribed:
			if pending--; pending == 0 {
				watched = true
				if failing {
					name, caches := t.names()
					s.log.Info("redis: "+name+" is back; "+caches+" in use", "masters", len(masters))
				}
				t.watched(true)
			}
		case err := <-ends:
			return watched, err
		case <-tick.C:
			now, err := clusterMasters(ctx, cc)
			if err == nil && !slices.Equal(now, masters) {
				return watched, fmt.Errorf("%w: %v, was %v", errMastersChanged, now, masters)
			}
		case <-ctx.Done():
			return watched, ctx.Err()
		}
	}
}

// clusterMasters returns the sorted addresses of the masters serving slots, as a node of
// the cluster answers CLUSTER SLOTS.
func clusterMasters(ctx context.Context, cc *goredis.ClusterClient) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, watchPing)
	defer cancel()
	// CLUSTER SLOTS (deprecated by Redis 7 in favour of CLUSTER SHARDS, still served) names
	// first the node serving each slot range, which is what the watch needs (CLUSTER SHARDS
	// lists every node of a shard with its role and health, to be sorted out here). go-redis
	// builds its own slot map from CLUSTER SLOTS too.
	//lint:ignore SA1019 see above
	slots, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: watch: CLUSTER SLOTS: %w", err)
	}
	var masters []string
	for _, r := range slots {
		if len(r.Nodes) > 0 && !slices.Contains(masters, r.Nodes[0].Addr) {
			masters = append(masters, r.Nodes[0].Addr)
		}
	}
	if len(masters) == 0 {
		return nil, errors.New("redis: watch: CLUSTER SLOTS names no master")
	}
	slices.Sort(masters)
	return masters, nil
}

// watchOnce subscribes and reports changes to t until an error, calling subscribed once
// the subscription is confirmed; watched says whether it was. It may run for several
// masters at once (a cluster): t's targets take concurrent reports.
func (s *Store) watchOnce(ctx context.Context, client *goredis.Client, t *watchTargets, subscribed func()) (watched bool, err error) {
	ps := client.Subscribe(ctx, invalidateChannel)
	defer ps.Close()
	stop := context.AfterFunc(ctx, func() { ps.Close() }) // ends a blocked Receive
	defer stop()
	pinged := false
	var ids []string
	for {
		msg, err := ps.ReceiveTimeout(ctx, watchPing)
		if err != nil {
			var ne net.Error
			if ctx.Err() == nil && errors.As(err, &ne) && ne.Timeout() && !pinged {
				if err := ps.Ping(ctx); err != nil {
					return watched, err
				}
				pinged = true
				continue
			}
			return watched, err
		}
		pinged = false
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Channel == invalidateChannel && m.Kind == "subscribe" {
				watched = true
				subscribed()
			}
		case *goredis.Message:
			if m.Channel != invalidateChannel || !watched {
				continue
			}
			// Redis sends the keys as an array, and FLUSHALL's message with a null
			// payload, which go-redis returns as an error (the watch then starts over,
			// the caches emptied). A string payload was published by a client: a key
			// is dropped like one Redis reported, an empty one names nothing and is
			// ignored, so that a stray PUBLISH does not make every watch reconnect.
			keys := m.PayloadSlice
			if m.Payload != "" {
				keys = []string{m.Payload}
			}
			if len(keys) == 0 {
				continue
			}
			if t.values != nil {
				t.values.invalidate(keys, t.kvPrefix)
			}
			if t.sessions == nil {
				continue
			}
			ids = ids[:0]
			for _, key := range keys {
				if id, ok := strings.CutPrefix(key, t.sessPrefix); ok {
					ids = append(ids, id)
				}
			}
			if len(ids) > 0 {
				t.sessions.SessionsChanged(ids)
			}
		}
	}
}
