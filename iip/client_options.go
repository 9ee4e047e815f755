package iip

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/seed857a6cbd/pocket/lbclient"
)

// clientOptions are the settings of Dial, NewClient and
// NewLoadBalanceClient, built from ClientOptions.
type clientOptions struct {
	sharedOptions
	DialTimeout  time.Duration // WithDialTimeout
	Keepalive    time.Duration // WithKeepalive
	PoolConns    int           // WithPool
	PoolChannels int           // WithPool
	// noSizeHint leaves "size-hint" out of the offer: set by this package's
	// benchmarks (withoutSizeHint, beyond_bench_test.go), which compare.
	noSizeHint bool

	// The balancer's settings (NewLoadBalanceClient only).
	balancer       string // the name of the first balancer option given, for Dial's error
	picker         lbclient.Picker
	hashQueryParam string
	classify       func(error) bool
	lbOpts         []lbclient.Option
}

// WithDialTimeout bounds dialing, the TLS handshake and the capability
// handshake of each connection, when the context has no earlier deadline.
// Default DefaultDialTimeout (5 s); valid: 0 (the default) or more.
func WithDialTimeout(d time.Duration) ClientOption {
	return clientOption(func(o *clientOptions) { o.DialTimeout = d })
}

// WithKeepalive sets the interval of the keepalive ping toward servers that
// accepted the "keepalive" capability: a connection that read nothing for
// one interval is pinged, and closed when the ping gets no answer within
// another (at least one second). Never used toward existing servers.
// Default DefaultKeepalive (15 s); negative disables it.
func WithKeepalive(d time.Duration) ClientOption {
	return clientOption(func(o *clientOptions) { o.Keepalive = d })
}

// WithPool sizes a Client's pool (and each backend's of a
// LoadBalanceClient): at most conns connections with at most channels
// channels each, so conns × channels calls run at once. Dial, which makes
// one connection, does not use it. Defaults DefaultPoolConns (2) and
// DefaultPoolChannels (16); 0 means the default; negative is an error.
func WithPool(conns, channels int) ClientOption {
	return clientOption(func(o *clientOptions) { o.PoolConns, o.PoolChannels = conns, channels })
}

// WithPicker sets the picker of a LoadBalanceClient, which selects a
// backend per call: lbclient.PickLeastPending (lbclient.DefaultPicker, the
// default; nil means it), lbclient.PickRoundRobin (exact weights),
// lbclient.PickRandom, lbclient.PickHash (every call with the same key goes
// to the same backend; see WithHashQueryParam and WithHashKey) or a Picker
// of your own. Set the picker here, not with lbclient.WithPicker in
// WithBalancer: only this one tells the client to compute hash keys.
// NewLoadBalanceClient only: Dial and NewClient refuse it.
func WithPicker(p lbclient.Picker) ClientOption {
	return balancerOption("WithPicker", func(o *clientOptions) { o.picker = p })
}

// WithHashQueryParam names the query parameter of a call's path whose
// (unescaped) value is the hash key of a LoadBalanceClient with
// WithPicker(lbclient.PickHash): with "uid", "/query?uid=42" hashes "42". A
// key set with WithHashKey takes precedence; a path without the parameter
// has an empty key and goes to a random backend. Default "" (keys only
// from WithHashKey). With another picker NewLoadBalanceClient fails with an
// error wrapping lbclient.ErrBadOption. NewLoadBalanceClient only.
func WithHashQueryParam(name string) ClientOption {
	return balancerOption("WithHashQueryParam", func(o *clientOptions) { o.hashQueryParam = name })
}

// WithBackendFailure sets the function that decides whether a
// LoadBalanceClient call's error is the backend's fault (it counts toward
// ejecting the backend, and a call that never left is moved to another
// backend) or the application's answer (it counts as a success for
// health). Default IsBackendFailure; nil means it. NewLoadBalanceClient
// only.
func WithBackendFailure(f func(error) bool) ClientOption {
	return balancerOption("WithBackendFailure", func(o *clientOptions) { o.classify = f })
}

// WithBalancer passes opts to a LoadBalanceClient's lbclient balancer,
// after the ones derived from the client's own options (the picker, the
// classifier and the logger): ejection (lbclient.WithFailureThreshold,
// lbclient.WithEjection), lbclient.WithPanicThreshold, lbclient.WithProbe,
// lbclient.WithRefresh, lbclient.WithDNS, and the resending of calls that
// provably never reached their backend: lbclient.WithPickAttempts(n) tries
// a call on up to n backends (default lbclient.DefaultPickAttempts; 1
// disables the moves; a request that was written is never resent, IIP has
// no idempotency marker). May be given several times; the lists are
// concatenated. An invalid one makes NewLoadBalanceClient fail with an
// error wrapping lbclient.ErrBadOption. Default: none, lbclient's defaults.
// NewLoadBalanceClient only.
func WithBalancer(opts ...lbclient.Option) ClientOption {
	return balancerOption("WithBalancer", func(o *clientOptions) { o.lbOpts = append(o.lbOpts, opts...) })
}

// balancerOption is an option of NewLoadBalanceClient only: it records its
// name so that Dial and NewClient refuse it instead of ignoring it.
func balancerOption(name string, f func(*clientOptions)) ClientOption {
	return clientOption(func(o *clientOptions) {
		if o.balancer == "" {
			o.balancer = name
		}
		f(o)
	})
}

// newClientOptions applies opts in order and verifies the result; it
// returns the settings with their defaults.
func newClientOptions(opts []ClientOption) (clientOptions, error) {
	var o clientOptions
	for _, opt := range opts {
		if opt != nil {
			opt.applyClient(&o)
		}
	}
	if err := o.verify(); err != nil {
		return o, err
	}
	return o.withDefaults(), nil
}

// verify reports the first setting out of its documented range, in an
// error wrapping ErrInvalidConfig.
func (o *clientOptions) verify() error {
	if err := VerifyConfig(&o.Config); err != nil {
		return err
	}
	switch {
	case o.DialTimeout < 0:
		return fmt.Errorf("%w: WithDialTimeout %v is negative (0: the default, %v)", ErrInvalidConfig, o.DialTimeout, DefaultDialTimeout)
	case o.PoolConns < 0 || o.PoolChannels < 0:
		return fmt.Errorf("%w: WithPool(%d, %d) has a negative size (0: the defaults, %d and %d)", ErrInvalidConfig, o.PoolConns, o.PoolChannels, DefaultPoolConns, DefaultPoolChannels)
	}
	return nil
}

// refuseBalancer is Dial's and NewClient's check that no option of
// NewLoadBalanceClient was given.
func (o *clientOptions) refuseBalancer(fn string) error {
	if o.balancer != "" {
		return fmt.Errorf("%w: %s is an option of NewLoadBalanceClient, not of %s", ErrInvalidConfig, o.balancer, fn)
	}
	return nil
}

// withDefaults returns o with every zero setting set to its default.
func (o clientOptions) withDefaults() clientOptions {
	o.Config = o.Config.withDefaults()
	if o.Window == 0 {
		o.Window = max(DefaultWindow, 2*o.FrameSize) // a derived default, never a clamp
	}
	setDefault(&o.DialTimeout, DefaultDialTimeout)
	setDefault(&o.PoolConns, DefaultPoolConns)
	setDefault(&o.PoolChannels, DefaultPoolChannels)
	setDefault(&o.Keepalive, DefaultKeepalive)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.classify == nil {
		o.classify = IsBackendFailure
	}
	return o
}
