package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seed857a6cbd/pocket/entrytask-server/domain"
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
// Redis queues the invalidation of a deleted session before it answers the command that
// deleted it, so the report reaches this process within the time the message takes to
// travel (well under a millisecond on a LAN); only a call that arrives here in that
// interval can still be accepted.
func (s *Store) WatchSessions(ctx context.Context, o domain.SessionObserver) error {
	opt := s.rdb.Options()
	keyPrefix := s.sessionKey("")
	wopt := &goredis.Options{
		Network: opt.Network, Addr: opt.Addr, Dialer: opt.Dialer, TLSConfig: opt.TLSConfig,
		Username: opt.Username, Password: opt.Password, DB: opt.DB,
		Protocol: 2, PoolSize: 1, MaxRetries: -1, DisableIdentity: true,
		DialTimeout: opt.DialTimeout, ReadTimeout: opt.ReadTimeout, WriteTimeout: opt.WriteTimeout,
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
	client := goredis.NewClient(wopt)
	defer client.Close()
	o.SessionsWatched(false)
	retry := watchRetryMin
	failing := false // the last attempt failed and was logged
	for {
		watched, err := s.watchOnce(ctx, client, keyPrefix, o, failing)
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
