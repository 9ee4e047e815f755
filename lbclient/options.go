package lbclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Defaults of every option. Each option's comment names the default it replaces.
const (
	// DefaultPicker is the picker used without WithPicker.
	DefaultPicker = PickLeastPending
	// DefaultMinConns is the number of connections kept open per backend.
	DefaultMinConns = 1
	// DefaultMaxConns is the most connections opened per backend under load.
	DefaultMaxConns = 8
	// DefaultMaxCallsPerConn is how many calls share one connection at once
	// (1: a connection carries one call at a time).
	DefaultMaxCallsPerConn = 1
	// DefaultIdleTimeout is how long a connection beyond MinConns may stay idle before it is closed.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultFailureThreshold is the number of consecutive backend failures that eject a backend.
	DefaultFailureThreshold = 5
	// DefaultBaseEjection is the first ejection time; each further ejection doubles it.
	DefaultBaseEjection = time.Second
	// DefaultMaxEjection caps the ejection time.
	DefaultMaxEjection = 30 * time.Second
	// DefaultPanicThreshold is the healthy share, in percent, under which the
	// balancer ignores health and balances over all backends (as Envoy does).
	DefaultPanicThreshold = 50
	// DefaultVirtualNodes is the number of ring points per unit of weight of the hash picker.
	DefaultVirtualNodes = 64
	// DefaultDNSRefresh is how often dns:/// and srv:/// targets are re-resolved.
	DefaultDNSRefresh = 30 * time.Second
	// DefaultFilePoll is how often a file:// target's file is checked for changes.
	DefaultFilePoll = time.Second
	// DefaultPickAttempts is how many backends Pick tries when dialing fails.
	DefaultPickAttempts = 3
	// DefaultDiscardOnFailure: a connection whose call was a backend failure is closed.
	DefaultDiscardOnFailure = true
	// DefaultCloseInFlight is whether Balancer.Close closes connections with
	// calls in flight (WithCloseInFlight); WithSharedClient turns it on.
	DefaultCloseInFlight = false
	// ewmaAlpha is the weight of a new latency sample in the latency EWMA.
	ewmaAlpha = 0.2
)

// Picker names a backend selection policy.
type Picker int

// The pickers. All honour weights and skip unhealthy backends (unless in panic mode).
const (
	// PickLeastPending (the default) draws two distinct backends at random in proportion to
	// their weights and takes the one with fewer pending calls per unit of weight
	// ("power of two choices"). It is load-aware: slow backends get fewer calls.
	PickLeastPending Picker = iota
	// PickRoundRobin is smooth weighted round robin (as in nginx): over any
	// window of total-weight calls each backend gets exactly its weight, interleaved.
	PickRoundRobin
	// PickRandom draws a backend at random in proportion to its weight.
	PickRandom
	// PickHash maps the call's key onto a consistent-hash ring with
	// VirtualNodes×weight points per backend: a key keeps its backend while that
	// backend is healthy, and adding or removing one of n backends moves about
	// 1/n of the keys. An empty key picks like PickRandom.
	PickHash
)

// String returns the picker's name as used in benchmarks: "p2c", "wrr", "random", "hash".
func (p Picker) String() string {
	switch p {
	case PickLeastPending:
		return "p2c"
	case PickRoundRobin:
		return "wrr"
	case PickRandom:
		return "random"
	case PickHash:
		return "hash"
	}
	return fmt.Sprintf("Picker(%d)", int(p))
}

// ProbeFunc actively checks one backend; a non-nil error marks it down until a later probe succeeds.
type ProbeFunc func(ctx context.Context, addr string) error

// Option configures a Balancer (functional options; the zero configuration is all defaults).
type Option func(*config)

type config struct {
	picker           Picker
	minConns         int
	maxConns         int
	maxCallsPerConn  int
	idleTimeout      time.Duration
	failureThreshold int
	baseEjection     time.Duration
	maxEjection      time.Duration
	panicThreshold   int
	virtualNodes     int
	probe            ProbeFunc
	probeInterval    time.Duration
	isBackendFailure func(error) bool
	lookup           DNSLookup
	refresh          time.Duration
	pickAttempts     int
	onUpdate         func([]Endpoint)
	logger           *slog.Logger
	discardOnFailure bool
	closeInFlight    bool
}

func defaultConfig() config {
	return config{
		picker:           DefaultPicker,
		minConns:         DefaultMinConns,
		maxConns:         DefaultMaxConns,
		maxCallsPerConn:  DefaultMaxCallsPerConn,
		idleTimeout:      DefaultIdleTimeout,
		failureThreshold: DefaultFailureThreshold,
		baseEjection:     DefaultBaseEjection,
		maxEjection:      DefaultMaxEjection,
		panicThreshold:   DefaultPanicThreshold,
		virtualNodes:     DefaultVirtualNodes,
		isBackendFailure: IsBackendFailure,
		pickAttempts:     DefaultPickAttempts,
		discardOnFailure: DefaultDiscardOnFailure,
	}
}

func (c *config) validate() error {
	switch {
	case c.picker < PickLeastPending || c.picker > PickHash:
		return fmt.Errorf("%w: unknown picker %d", ErrBadOption, int(c.picker))
	case c.minConns < 0:
		return fmt.Errorf("%w: MinConns %d is negative", ErrBadOption, c.minConns)
	case c.maxConns < 1 || c.maxConns < c.minConns:
		return fmt.Errorf("%w: MaxConns %d must be at least 1 and at least MinConns %d", ErrBadOption, c.maxConns, c.minConns)
	case c.maxCallsPerConn < 1:
		return fmt.Errorf("%w: MaxCallsPerConn %d must be at least 1", ErrBadOption, c.maxCallsPerConn)
	case c.idleTimeout <= 0:
		return fmt.Errorf("%w: IdleTimeout %v must be positive", ErrBadOption, c.idleTimeout)
	case c.failureThreshold < 1:
		return fmt.Errorf("%w: FailureThreshold %d must be at least 1", ErrBadOption, c.failureThreshold)
	case c.baseEjection <= 0 || c.maxEjection < c.baseEjection:
		return fmt.Errorf("%w: ejection base %v must be positive and not above max %v", ErrBadOption, c.baseEjection, c.maxEjection)
	case c.panicThreshold < 0 || c.panicThreshold > 100:
		return fmt.Errorf("%w: PanicThreshold %d is not a percentage 0-100", ErrBadOption, c.panicThreshold)
	case c.virtualNodes < 1 || c.virtualNodes > 1000:
		return fmt.Errorf("%w: VirtualNodes %d is not 1-1000", ErrBadOption, c.virtualNodes)
	case c.probe != nil && c.probeInterval <= 0:
		return fmt.Errorf("%w: probe interval %v must be positive", ErrBadOption, c.probeInterval)
	case c.refresh < 0:
		return fmt.Errorf("%w: refresh interval %v is negative", ErrBadOption, c.refresh)
	case c.pickAttempts < 1:
		return fmt.Errorf("%w: PickAttempts %d must be at least 1", ErrBadOption, c.pickAttempts)
	case c.isBackendFailure == nil:
		return fmt.Errorf("%w: nil backend-failure classifier", ErrBadOption)
	}
	return nil
}

// IsBackendFailure is the default classifier of call errors: every non-nil error
// is a backend failure except context.Canceled (the caller gave up, the backend
// did nothing wrong). context.DeadlineExceeded counts as a failure: the backend was too slow.
func IsBackendFailure(err error) bool {
	return err != nil && !errors.Is(err, context.Canceled)
}

// WithPicker selects the picker. Default DefaultPicker (PickLeastPending).
func WithPicker(p Picker) Option { return func(c *config) { c.picker = p } }

// WithConns sets the per-backend pool size: min connections kept open (default
// DefaultMinConns) and max opened under load (default DefaultMaxConns). When
// all max connections carry their MaxCallsPerConn calls, further calls to that
// backend wait for one to be returned (or for their context); connections
// retired by an ejection or a failure do not count toward max. New fails if
// min < 0 or max < max(1, min).
func WithConns(min, max int) Option {
	return func(c *config) { c.minConns, c.maxConns = min, max }
}

// WithMaxCallsPerConn sets how many calls may use one connection at once.
// Default DefaultMaxCallsPerConn (1, exclusive use); raise it for multiplexed
// clients (nap, dora, iip) whose connections carry many calls. New fails if n < 1.
func WithMaxCallsPerConn(n int) Option { return func(c *config) { c.maxCallsPerConn = n } }

// WithDiscardOnFailure sets whether a connection whose call ended in a backend
// failure is closed (true, DefaultDiscardOnFailure) or returned to the pool
// (false: for clients that repair themselves). Ejection closes a backend's
// connections either way.
func WithDiscardOnFailure(discard bool) Option {
	return func(c *config) { c.discardOnFailure = discard }
}

// WithSharedClient configures the pool for a C that is itself a pooled,
// concurrency-safe client, such as iip.Client or dora.Client: one C per
// backend (WithConns(1, 1)), shared by every call (WithMaxCallsPerConn(math.MaxInt32)),
// kept when a call fails (WithDiscardOnFailure(false)), and closed by
// Balancer.Close even while calls are in flight (WithCloseInFlight(true)), as
// closing a grpc-go ClientConn fails its pending RPCs. Options after it may
// override these.
func WithSharedClient() Option {
	return func(c *config) {
		c.minConns, c.maxConns, c.maxCallsPerConn, c.discardOnFailure = 1, 1, math.MaxInt32, false
		c.closeInFlight = true
	}
}

// WithCloseInFlight sets whether Balancer.Close also closes connections that
// carry calls (true: those calls fail, the C's Close decides how) or leaves them
// to close when their Lease is done (false, DefaultCloseInFlight). Removing a
// backend from the set never interrupts its calls.
func WithCloseInFlight(close bool) Option {
	return func(c *config) { c.closeInFlight = close }
}

// WithIdleTimeout sets how long a connection beyond MinConns may stay unused
// before it is closed (checked every min(d/2, 5s), so a connection may idle up
// to half as long again). Default DefaultIdleTimeout. New fails if d <= 0.
func WithIdleTimeout(d time.Duration) Option { return func(c *config) { c.idleTimeout = d } }

// WithFailureThreshold sets how many consecutive backend failures eject a backend.
// Default DefaultFailureThreshold. New fails if n < 1.
func WithFailureThreshold(n int) Option { return func(c *config) { c.failureThreshold = n } }

// WithEjection sets the first ejection time (doubled on each further ejection
// of the same backend) and its cap. Defaults DefaultBaseEjection and
// DefaultMaxEjection. New fails unless 0 < base <= max.
func WithEjection(base, max time.Duration) Option {
	return func(c *config) { c.baseEjection, c.maxEjection = base, max }
}

// WithPanicThreshold sets the healthy share in percent (0-100) under which
// health is ignored and calls are balanced over all backends, so ejection never
// empties the pool. Default DefaultPanicThreshold; 0 disables panic mode except
// when no backend at all is healthy.
func WithPanicThreshold(percent int) Option { return func(c *config) { c.panicThreshold = percent } }

// WithVirtualNodes sets the ring points per unit of weight of PickHash
// (1-1000). Default DefaultVirtualNodes.
func WithVirtualNodes(n int) Option { return func(c *config) { c.virtualNodes = n } }

// WithProbe enables active health checking: every interval, probe is called for
// each backend (one after another) with a context bounded by interval; an error
// marks the backend down until a later probe succeeds, and a success also ends an
// ejection for failed calls (the backend serves again at once rather than at the
// end of its backoff; a trial call already out is left to decide). Default: no
// probe. New fails if probe is set and interval <= 0. The probe is any function:
// dora's health.Probe checks a dora server's dora.health.v1 service.
func WithProbe(interval time.Duration, probe ProbeFunc) Option {
	return func(c *config) { c.probe, c.probeInterval = probe, interval }
}

// WithBackendFailure sets the classifier deciding whether a call's error is the
// backend's fault (counted toward ejection, connection discarded) or an
// application error (counted as a success for health). Default IsBackendFailure.
// Dial errors are always backend failures.
func WithBackendFailure(f func(error) bool) Option { return func(c *config) { c.isBackendFailure = f } }

// WithDNS sets the DNS lookup used by dns:/// and srv:/// targets (a
// *net.Resolver satisfies DNSLookup). Default net.DefaultResolver.
func WithDNS(l DNSLookup) Option { return func(c *config) { c.lookup = l } }

// WithRefresh sets how often dns:///, srv:/// and file:// targets are
// re-resolved. Defaults DefaultDNSRefresh (DNS) and DefaultFilePoll (file).
func WithRefresh(d time.Duration) Option { return func(c *config) { c.refresh = d } }

// WithPickAttempts sets how many backends Pick tries when dialing fails before
// it returns the dial error. Default DefaultPickAttempts. New fails if n < 1.
func WithPickAttempts(n int) Option { return func(c *config) { c.pickAttempts = n } }

// WithOnUpdate sets a hook called (from the resolver goroutine or Refresh) with
// the new endpoint set each time the backends change. Default: none. The hook
// runs while updates are serialised: it must not call Refresh or Close.
func WithOnUpdate(f func([]Endpoint)) Option { return func(c *config) { c.onUpdate = f } }

// WithLogger sets where resolver and probe errors are logged. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }
