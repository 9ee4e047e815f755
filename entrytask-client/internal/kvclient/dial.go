package kvclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
	"github.com/seed857a6cbd/pocket/lbclient"
)

// MaxConns is how many dora (nap) sessions the client may open to each etserver instance.
// A session multiplexes up to the server's stream limit (dora's default is 1024 calls in
// flight), so one is enough for etclient's benchmark of 100 or more concurrent callers; the
// others open only when every open session is at that limit.
const MaxConns = 4

// DefaultServer is the address etclient dials when no --server is given.
const DefaultServer = "127.0.0.1:7000"

// ErrBadEndpoint is wrapped by Dial's errors for an endpoint dora cannot use.
var ErrBadEndpoint = errors.New("kvclient: bad server address")

// Options configure Dial. The zero value of each field means its default.
type Options struct {
	// Endpoints are the etserver instances; with more than one, calls are balanced over them
	// by weight (lbclient) and an instance that is down is skipped. Parse a server list with
	// lbclient.ParseTarget. Default: DefaultServer.
	Endpoints []lbclient.Endpoint
	// DialTimeout bounds connecting to one instance, TLS and nap handshakes included.
	// Default: dora's (10 s); the context of each call bounds it as well.
	DialTimeout time.Duration
	// TLS, when non-nil, makes every connection TLS with this configuration (set
	// Certificates for mutual TLS). When its ServerName is empty, each connection checks the
	// certificate against its endpoint's host. Default: plain TCP.
	TLS *tls.Config
	// Logger receives the transport's connection events (failed dials, lost connections).
	// Default: discarded, since every failure also reaches the caller as an error.
	Logger *slog.Logger
	// Stats, when non-nil, is told about every call (dora.WithStats): etclient's
	// --otel-endpoint sets dora/otel's client handler here. Default: none.
	Stats dora.StatsHandler
	// Legacy, when true, makes the client speak the previous version's protocol (legacy nap
	// frames, bare method names, one TCP connection; see legacyClient) instead of dora, to
	// load etserver's legacy path. It needs exactly one endpoint (or none: DefaultServer),
	// no TLS and no Stats; Dial refuses anything else with ErrBadEndpoint. Default: false.
	Legacy bool
}

// Dial returns a Client for etserver's kv.Store service over dora. One endpoint gives a
// single-target dora client; several give a balanced one (target "lb:///addr#weight,...")
// that spreads calls by weight with lbclient's least-pending picker, moves a call that could
// not reach an instance to another one, and ejects an instance at its first failure (see
// balancerOptions).
//
// Dial does not wait for a connection: the first call connects (a balanced client also
// starts dialing its instances in the background), and an unreachable server shows as a
// Code(codes.Unavailable) error of that call. Dial fails only for a context that has ended or a bad
// endpoint (errors wrapping ErrBadEndpoint). The Client is safe for concurrent use; Close
// it when done.
func Dial(ctx context.Context, opts Options) (Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kvclient: dial: %w", err)
	}
	eps := opts.Endpoints
	if len(eps) == 0 {
		eps = []lbclient.Endpoint{{Addr: DefaultServer, Weight: lbclient.DefaultWeight}}
	}
	for _, ep := range eps {
		if ep.Addr == "" || ep.Weight < 0 || ep.Weight > lbclient.MaxWeight || strings.ContainsAny(ep.Addr, ",#") {
			return nil, fmt.Errorf("%w: %+v", ErrBadEndpoint, ep)
		}
	}
	if opts.Legacy {
		c, err := dialLegacy(opts)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dopts := []dora.ClientOption{dora.WithMaxConns(MaxConns), dora.WithLogger(logger)}
	if opts.DialTimeout > 0 {
		dopts = append(dopts, dora.WithDialTimeout(opts.DialTimeout))
	}
	if opts.TLS != nil {
		dopts = append(dopts, dora.WithTLS(opts.TLS.Clone()))
	}
	if opts.Stats != nil {
		dopts = append(dopts, dora.WithStats(opts.Stats))
	}
	target := eps[0].Addr
	if len(eps) > 1 {
		target = balancedTarget(eps)
		dopts = append(dopts, dora.WithBalancer(balancerOptions(len(eps))...))
	}
	conn, err := dora.NewClient(target, dopts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadEndpoint, err)
	}
	return &doraClient{conn: conn, store: kvpb.NewStoreClient(conn)}, nil
}

// balancerOptions tune lbclient for etclient, a short-lived client that must not lose a
// call to an instance that is down: the first failure (a refused dial, a lost connection)
// ejects an instance (for EjectionBase, doubling while it keeps failing up to EjectionMax;
// one seen down is tried again as soon as lbclient's recovery check finds it listening,
// within about lbclient.DefaultRecoveryInterval, 250 ms), health is never
// ignored while one instance is up (no panic mode), and picking tries every instance once
// more than there are, so a call reaches an instance that is up. Without this, lbclient's
// defaults (5 failures eject, 3 dial attempts) fail a fresh client's first calls whenever
// the picker draws the down instance three times in a row.
func balancerOptions(n int) []lbclient.Option {
	return []lbclient.Option{
		lbclient.WithFailureThreshold(1),
		lbclient.WithPanicThreshold(0),
		lbclient.WithPickAttempts(n + 1),
		lbclient.WithEjection(EjectionBase, EjectionMax),
	}
}

// EjectionBase and EjectionMax bound how long a balanced client keeps a failed instance out
// of its picks: 250 ms after the first failure, doubling while trial calls keep failing, at
// most 1 s. A restarted instance is back sooner through lbclient's recovery check; these
// bound the wait for one that failed calls while still accepting connections, which that
// check does not end (lbclient's defaults, 1 s up to 30 s, would leave it out for up to
// 30 s). A trial call that cannot reach the instance moves to another one, so a short
// ejection costs no call.
const (
	EjectionBase = 250 * time.Millisecond
	EjectionMax  = time.Second
)

// balancedTarget writes endpoints as a dora balanced target: "lb:///a:1#2,b:2#1" (a weight
// of 0 is lbclient.DefaultWeight).
func balancedTarget(eps []lbclient.Endpoint) string {
	entries := make([]string, len(eps))
	for i, ep := range eps {
		if ep.Weight == 0 {
			ep.Weight = lbclient.DefaultWeight
		}
		entries[i] = ep.String()
	}
	return "lb:///" + strings.Join(entries, ",")
}
