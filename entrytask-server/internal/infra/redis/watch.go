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

// WatchClientName is the connection name (CLIENT SETNAME) of the session watch connection
// of a Store with this key prefix, as CLIENT LIST shows it: "etserver-watch:" and the
// prefix, with characters other than printable ASCII and spaces replaced by '_'.
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
func (s *Store) WatchSessions(ctx context.Context, o domain.SessionObserver) error {
	keyPrefix := s.sessionKey("")
	var once func(ctx context.Context, failing bool) (bool, error)
	switch c := s.rdb.(type) {
	case *goredis.ClusterClient:
		once = func(ctx context.Context, failing bool) (bool, error) {
			return s.watchCluster(ctx, c, keyPrefix, o, failing)
		}
	case *goredis.Client:
		opt := c.Options()
		client := goredis.NewClient(s.watchOptions(opt.Network, opt.Addr, opt.Dialer, opt.TLSConfig, opt.Username, opt.Password,
			opt.DB, opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout))
		defer client.Close()
		once = func(ctx context.Context, failing bool) (bool, error) {
			return s.watchOnce(ctx, client, keyPrefix, o, failing)
		}
	default:
		return fmt.Errorf("redis: session watch: client %T not supported", s.rdb)
	}
	o.SessionsWatched(false)
	retry := watchRetryMin
	failing := false // the last attempt failed and was logged
	for {
		watched, err := once(ctx, failing)
		o.SessionsWatched(false)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if watched {
			retry = watchRetryMin
		}
		if watched || !failing {
			s.log.Warn("redis: session watch lost; the session cache is bypassed until it is back",
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
func (s *Store) watchOptions(network, addr string, dialer func(context.Context, string, string) (net.Conn, error),
	tlsCfg *tls.Config, username, password string, db int, dial, read, write time.Duration) *goredis.Options {
	keyPrefix := s.sessionKey("")
	return &goredis.Options{
		Network: network, Addr: addr, Dialer: dialer, TLSConfig: tlsCfg,
		Username: username, Password: password, DB: db,
		Protocol: 2, PoolSize: 1, MaxRetries: -1, DisableIdentity: true,
		DialTimeout: dial, ReadTimeout: read, WriteTimeout: write,
		OnConnect: func(ctx context.Context, cn *goredis.Conn) error {
			id, err := cn.ClientID(ctx).Result()
			if err != nil {
				return fmt.Errorf("redis: session watch: CLIENT ID: %w", err)
			}
			if err := cn.ClientSetName(ctx, WatchClientName(s.prefix)).Err(); err != nil {
				return fmt.Errorf("redis: session watch: CLIENT SETNAME: %w", err)
			}
			err = cn.Do(ctx, "CLIENT", "TRACKING", "ON", "REDIRECT", strconv.FormatInt(id, 10), "BCAST", "PREFIX", keyPrefix).Err()
			if err != nil {
				return fmt.Errorf("redis: session watch: CLIENT TRACKING: %w", err)
			}
			return nil
		},
	}
}

// errMastersChanged ends a cluster watch whose set of masters is no longer the cluster's.
var errMastersChanged = errors.New("redis: session watch: the cluster's masters changed")

// watchCluster watches every master of the cluster until one watch ends or the set of
// masters changes; watched says whether all were subscribed at some point.
func (s *Store) watchCluster(ctx context.Context, cc *goredis.ClusterClient, keyPrefix string, o domain.SessionObserver, failing bool) (watched bool, err error) {
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
	subscribed := make(chan struct{}, len(masters))
	node := nodeObserver{o: o, subscribed: subscribed}
	for _, addr := range masters {
		client := goredis.NewClient(s.watchOptions("tcp", addr, opt.Dialer, opt.TLSConfig, opt.Username, opt.Password,
			0, opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout))
		wg.Go(func() {
			defer client.Close()
			_, err := s.watchOnce(ctx, client, keyPrefix, node, false)
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
					s.log.Info("redis: session watch is back; the session cache is in use", "masters", len(masters))
				}
				o.SessionsWatched(true)
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

// nodeObserver passes one master's changes on and reports its subscription to the
// cluster watch, which tells the observer once all masters are subscribed.
type nodeObserver struct {
	o          domain.SessionObserver
	subscribed chan<- struct{}
}

func (n nodeObserver) SessionsWatched(on bool) {
	if on {
		n.subscribed <- struct{}{} // buffered for one report per master
	}
}

func (n nodeObserver) SessionsChanged(ids []string) { n.o.SessionsChanged(ids) }

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
		return nil, fmt.Errorf("redis: session watch: CLUSTER SLOTS: %w", err)
	}
	var masters []string
	for _, r := range slots {
		if len(r.Nodes) > 0 && !slices.Contains(masters, r.Nodes[0].Addr) {
			masters = append(masters, r.Nodes[0].Addr)
		}
	}
	if len(masters) == 0 {
		return nil, errors.New("redis: session watch: CLUSTER SLOTS names no master")
	}
	slices.Sort(masters)
	return masters, nil
}

// watchOnce subscribes and reports changes until an error; watched says whether the
// subscription was confirmed.
func (s *Store) watchOnce(ctx context.Context, client *goredis.Client, keyPrefix string, o domain.SessionObserver, failing bool) (watched bool, err error) {
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
				if failing {
					s.log.Info("redis: session watch is back; the session cache is in use")
				}
				o.SessionsWatched(true)
			}
		case *goredis.Message:
			if m.Channel != invalidateChannel || !watched {
				continue
			}
			keys := m.PayloadSlice
			if m.Payload != "" {
				keys = []string{m.Payload}
			}
			ids = ids[:0]
			for _, key := range keys {
				if id, ok := strings.CutPrefix(key, keyPrefix); ok {
					ids = append(ids, id)
				}
			}
			if len(keys) == 0 {
				return watched, errors.New("redis: session watch: invalidation of every key")
			}
			if len(ids) > 0 {
				o.SessionsChanged(ids)
			}
		}
	}
}
