package lbclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults of every option. Each option's comment names the default it replaces.
const (
	// DefaultFailureThreshold is the number of consecutive backend failures that eject a backend.
	DefaultFailureThreshold = 5
	// DefaultBaseEjection is the first ejection time; each further ejection doubles it.
	DefaultBaseEjection = time.Second
	// DefaultMaxEjection caps the ejection time.
	DefaultMaxEjection = 30 * time.Second
	// DefaultRecoveryInterval is how often an ejected backend is checked for
	// reachability (WithRecovery): one that was seen down and answers again
	// gets its trial call at once, so a restarted backend serves again
	// within about this long of listening, whatever its backoff.
	DefaultRecoveryInterval = 250 * time.Millisecond
	// DefaultPanicThreshold is the healthy share, in percent, under which the
	// balancer ignores health and balances over all backends (as Envoy does).
	DefaultPanicThreshold = 50
	// DefaultVirtualNodes is the number of ring points per unit of weight of the hash picker.
	DefaultVirtualNodes = 64
	// DefaultDNSRefresh is how often dns:/// and srv:/// targets are re-resolved.
	DefaultDNSRefresh = 30 * time.Second
	// DefaultFilePoll is how often a file:// target's file is checked for changes.
	DefaultFilePoll = time.Second
	// DefaultPickAttempts is how many times Do and Begin try a call that
	// provably never reached the backend picked (see NotSent): the first pick
	// and two more (on other backends when the set has them).
	DefaultPickAttempts = 3
	// ewmaAlpha is the weight of a new latency sample in the latency EWMA.
	ewmaAlpha = 0.2
)

// DefaultPicker is the picker used without WithPicker (or with WithPicker(nil)).
var DefaultPicker = PickLeastPending

// ProbeFunc actively checks one backend; a non-nil error marks it down until a later probe succeeds.
type ProbeFunc func(ctx context.Context, addr string) error

// Option configures a Balancer (functional options; the zero configuration is all defaults).
type Option func(*config)

type config struct {
	picker           Picker
	failureThreshold int
	baseEjection     time.Duration
	maxEjection      time.Duration
	recoveryInterval time.Duration
	recoveryProbe    ProbeFunc
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
}

func defaultConfig() config {
	return config{
		picker:           DefaultPicker,
		failureThreshold: DefaultFailureThreshold,
		baseEjection:     DefaultBaseEjection,
		maxEjection:      DefaultMaxEjection,
		recoveryInterval: DefaultRecoveryInterval,
		panicThreshold:   DefaultPanicThreshold,
		virtualNodes:     DefaultVirtualNodes,
		isBackendFailure: IsBackendFailure,
		pickAttempts:     DefaultPickAttempts,
	}
}

func (c *config) validate() error {
	switch {
	case c.failureThreshold < 1:
		return fmt.Errorf("%w: FailureThreshold %d must be at least 1", ErrBadOption, c.failureThreshold)
	case c.baseEjection <= 0 || c.maxEjection < c.baseEjection:
		return fmt.Errorf("%w: ejection base %v must be positive and not above max %v", ErrBadOption, c.baseEjection, c.maxEjection)
	case c.recoveryInterval < 0:
		return fmt.Errorf("%w: recovery interval %v is negative", ErrBadOption, c.recoveryInterval)
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

// WithPicker selects the picker: one of PickLeastPending, PickRoundRobin,
// PickRandom and PickHash, or a Picker of your own. Default DefaultPicker
// (PickLeastPending); nil means the default.
func WithPicker(p Picker) Option {
	return func(c *config) {
		if p == nil {
			p = DefaultPicker
		}
		c.picker = p
	}
}

// WithFailureThreshold sets how many consecutive backend failures eject a backend.
// Default DefaultFailureThreshold. New fails if n < 1.
func WithFailureThreshold(n int) Option { return func(c *config) { c.failureThreshold = n } }

// WithEjection sets the first ejection time (doubled on each further ejection
// of the same backend) and its cap. Defaults DefaultBaseEjection and
// DefaultMaxEjection. New fails unless 0 < base <= max.
func WithEjection(base, max time.Duration) Option {
	return func(c *config) { c.baseEjection, c.maxEjection = base, max }
}

// WithRecovery sets how often each ejected backend is checked for
// reachability, and how. A backend seen down during its ejection (a call
// that never reached it, or a failed check) whose check then succeeds gets
// its half-open trial call at once instead of at the end of its backoff, so a
// restarted backend serves again within about interval of listening. probe
// nil is the default check: the backend's client's Connect method when it
// implements Connector (it connects now, bypassing any reconnect backoff of
// its own), else a TCP connection to the address, closed at once. Default
// DefaultRecoveryInterval; interval 0 disables the checks (ejections then
// last their whole backoff). The checks run only while a backend is
// ejected. New fails if interval < 0.
func WithRecovery(interval time.Duration, probe ProbeFunc) Option {
	return func(c *config) { c.recoveryInterval, c.recoveryProbe = interval, probe }
}

// WithPanicThreshold sets the healthy share in percent (0-100) under which
// health is ignored and calls are balanced over all backends, so ejection never
// empties the set. Default DefaultPanicThreshold; 0 disables panic mode except
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
// backend's fault (counted toward ejection) or an application error (counted
// as a success for health). It sees errors marked with NotSent unwrapped.
// Default IsBackendFailure.
func WithBackendFailure(f func(error) bool) Option { return func(c *config) { c.isBackendFailure = f } }

// WithDNS sets the DNS lookup used by dns:/// and srv:/// targets (a
// *net.Resolver satisfies DNSLookup). Default net.DefaultResolver.
func WithDNS(l DNSLookup) Option { return func(c *config) { c.lookup = l } }

// WithRefresh sets how often dns:///, srv:/// and file:// targets are
// re-resolved. Defaults DefaultDNSRefresh (DNS) and DefaultFilePoll (file).
func WithRefresh(d time.Duration) Option { return func(c *config) { c.refresh = d } }

// WithPickAttempts sets how many times Do and Begin try a call while it
// provably never reaches the backend picked (the call's function returns an
// error marked with NotSent): the first pick and n-1 more, each on another
// backend than the one before when the set has another, else on the same
// one again (its client's next connection). A call that may have reached a
// backend is never repeated. Default DefaultPickAttempts; 1 disables the
// retries. New fails if n < 1.
func WithPickAttempts(n int) Option { return func(c *config) { c.pickAttempts = n } }

// WithOnUpdate sets a hook called (from the resolver goroutine or Refresh) with
// the new endpoint set each time the backends change. Default: none. The hook
// runs while updates are serialised: it must not call Refresh or Close.
func WithOnUpdate(f func([]Endpoint)) Option { return func(c *config) { c.onUpdate = f } }

// WithLogger sets where resolver and probe errors are logged. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }
