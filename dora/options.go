package dora

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/seed857a6cbd/pocket/lbclient"
	"github.com/seed857a6cbd/pocket/nap"
)

// Defaults of the server and client options.
const (
	// DefaultMaxConns is the default number of nap sessions a Client spreads its calls over.
	DefaultMaxConns = 4
	// DefaultBackoffBase is the default wait after the first failed dial; it doubles per
	// failure up to DefaultBackoffMax, with ±20% jitter.
	DefaultBackoffBase = 100 * time.Millisecond
	// DefaultBackoffMax is the default longest wait between dials.
	DefaultBackoffMax = 5 * time.Second
	// DefaultDialTimeout is the default bound of one dial (TCP, TLS and nap handshake).
	DefaultDialTimeout = 10 * time.Second
	// maxOpenAttempts bounds how often a call is moved to another session after nap said
	// the stream never reached the server (nap.IsRetryable).
	maxOpenAttempts = 3
)

// ServerOption configures a Server (functional options, like grpc-go).
type ServerOption func(*serverOptions)

type serverOptions struct {
	nap        nap.Config  // TLSConfig always nil: see tls and napTLS
	tls        *tls.Config // ServerTLS
	napTLS     *tls.Config // ServerNapConfig's TLSConfig
	unaryInts  []UnaryServerInterceptor
	streamInts []StreamServerInterceptor
	stats      []StatsHandler
	logger     *slog.Logger

	maxConnReplyBytes   int           // MaxConnReplyBytes
	maxServerReplyBytes int           // MaxServerReplyBytes
	maxServerCalls      int           // MaxServerCalls
	requestTimeout      time.Duration // RequestTimeout
	compressThreshold   int           // CompressionThreshold; 0: DefaultCompressionThreshold
	idleCallWorkers     int           // IdleCallWorkers; 0: a goroutine per call
	lazyCallContext     bool          // LazyCallContext
}

// ServerNapConfig sets the transport settings of accepted sessions (frame size, windows,
// keepalive, handshake timeout...); zero fields mean nap's defaults. It replaces the whole
// nap configuration, so MaxRecvMsgSize and MaxConcurrentCalls must come after it to take
// effect. A non-nil cfg.TLSConfig is honoured exactly like ServerTLS(cfg.TLSConfig): Serve
// speaks TLS with it. Giving both ServerTLS and a ServerNapConfig whose TLSConfig is a
// different *tls.Config is a conflict: Serve then refuses to serve and returns an error
// wrapping ErrTLSConflict (the server never falls back to one of them, nor to plain TCP).
func ServerNapConfig(cfg nap.Config) ServerOption {
	return func(o *serverOptions) {
		o.nap = cfg
		if cfg.TLSConfig != nil {
			o.napTLS = cfg.TLSConfig
		}
		o.nap.TLSConfig = nil // resolved with ServerTLS by resolveTLS
	}
}

// ServerTLS makes Serve speak TLS with cfg (set cfg.ClientAuth and ClientCAs for mTLS).
// Default: plain TCP. See ServerNapConfig for a TLSConfig given there too.
func ServerTLS(cfg *tls.Config) ServerOption {
	return func(o *serverOptions) { o.tls = cfg }
}

// ErrTLSConflict is wrapped by the error of Server.Serve and of NewClient when TLS was
// configured twice with different *tls.Config values (ServerTLS and
// ServerNapConfig(nap.Config{TLSConfig: ...}), or WithTLS and WithNapConfig). One of them
// would be ignored; dora refuses instead of guessing.
var ErrTLSConflict = errors.New("dora: two different TLS configurations")

// resolveTLS returns the one TLS configuration given by direct and nap (the TLS option
// and the nap configuration's TLSConfig), nil for none, or an error when both are set and
// differ.
func resolveTLS(direct, nap *tls.Config, directName, napName string) (*tls.Config, error) {
	switch {
	case direct == nil:
		return nap, nil
	case nap == nil || nap == direct:
		return direct, nil
	}
	return nil, fmt.Errorf("%w: %s and %s.TLSConfig are different *tls.Config values; give only one", ErrTLSConflict, directName, napName)
}

// MaxRecvMsgSize bounds the size of one request Pkg (head + payload), in bytes; larger
// messages reset their stream and the client sees ResourceExhausted. Default:
// nap.DefaultMaxMessageSize (4 MiB); valid 0 (the default) or 1 to 2^31-1: Serve refuses
// other values (nap.ErrInvalidConfig).
func MaxRecvMsgSize(n int) ServerOption {
	return func(o *serverOptions) { o.nap.MaxMessageSize = n }
}

// MaxConcurrentCalls bounds the calls one connection may have in flight; nap refuses streams
// past it and a dora client then opens another connection. Default:
// nap.DefaultMaxConcurrentStreams (1024); valid 0 (the default) or 1 to 2^31-1: Serve
// refuses other values (nap.ErrInvalidConfig).
func MaxConcurrentCalls(n int) ServerOption {
	return func(o *serverOptions) { o.nap.MaxConcurrentStreams = n }
}

// MaxConnReplyBytes bounds the encoded reply bytes (unary responses and streamed
// messages) one connection may have waiting to be sent, for peers that do not read. A reply
// that does not fit waits, without holding its encoding, until it fits, at most nap's
// WriteTimeout (nap.DefaultWriteTimeout, 10 s) or the call's deadline, then fails its call
// with ResourceExhausted. A connection with nothing waiting always takes one reply, whatever
// its size. Default: DefaultMaxConnReplyBytes (16 MiB); n <= 0 means the default.
func MaxConnReplyBytes(n int) ServerOption {
	return func(o *serverOptions) {
		if n > 0 {
			o.maxConnReplyBytes = n
		}
	}
}

// MaxServerReplyBytes bounds the encoded reply bytes all connections together may have
// waiting to be sent; replies that do not fit wait as for MaxConnReplyBytes, except replies
// of at most 4 KiB, which never wait for it (they count, and may take it past the limit by
// at most MaxServerCalls x 4 KiB) so that small answers are not delayed. While replies
// wait for it, a connection that holds reply bytes and has completed no send for a second
// is closed (the one holding the most first): peers that never read pay, not the others.
// Default: DefaultMaxServerReplyBytes (64 MiB); n <= 0 means the default.
func MaxServerReplyBytes(n int) ServerOption {
	return func(o *serverOptions) {
		if n > 0 {
			o.maxServerReplyBytes = n
		}
	}
}

// DefaultMaxServerCalls is the default number of calls a Server runs at once over all its
// connections (MaxServerCalls).
const DefaultMaxServerCalls = 8192

// MaxServerCalls bounds the calls the server runs at once over all its connections (each
// is a goroutine holding its request). A call past it is refused before any handler sees
// it: its nap stream is reset with REFUSED_STREAM, which dora clients retry on another
// session (and then fail with Unavailable); the first refusal of a burst is logged at Warn
// level. MaxConcurrentCalls bounds one connection. Default: DefaultMaxServerCalls (8192);
// n <= 0 means the default.
func MaxServerCalls(n int) ServerOption {
	return func(o *serverOptions) {
		if n > 0 {
			o.maxServerCalls = n
		}
	}
}

// RequestTimeout bounds how long a call may wait for its request after the request's first
// frame arrived: a connection with a call that has waited that long is closed (its calls
// fail with Unavailable; Warn log), so a peer that sends part of a request and stops holds
// no goroutine for long. It is checked every d/4, so it fires between d and 1.25 x d. The
// first message of every call counts (a unary request, the open Pkg of a stream); later
// stream messages are the handler's to wait for (use deadlines). Default:
// DefaultRequestTimeout (30 s): a request of MaxRecvMsgSize (4 MiB) must arrive at about
// 140 KB/s or faster; d == 0 means the default, d < 0 disables the check.
func RequestTimeout(d time.Duration) ServerOption {
	return func(o *serverOptions) {
		if d != 0 {
			o.requestTimeout = d
		}
	}
}

// ChainUnaryInterceptor adds unary interceptors; the first given runs outermost. May be
// given several times; the lists are concatenated.
func ChainUnaryInterceptor(ints ...UnaryServerInterceptor) ServerOption {
	return func(o *serverOptions) { o.unaryInts = append(o.unaryInts, ints...) }
}

// ChainStreamInterceptor adds stream interceptors; the first given runs outermost.
func ChainStreamInterceptor(ints ...StreamServerInterceptor) ServerOption {
	return func(o *serverOptions) { o.streamInts = append(o.streamInts, ints...) }
}

// CompressionThreshold sets the size, in bytes, from which the server compresses a unary
// response payload for a client that accepts compression (it called with
// UseCompressor(Gzip)); smaller payloads are sent plain. Default
// DefaultCompressionThreshold (1 KiB); n <= 0 keeps it. Clients that do not ask for
// compression (legacy and previous-version dora clients among them) always get plain
// responses.
func CompressionThreshold(n int) ServerOption {
	return func(o *serverOptions) { o.compressThreshold = n }
}

// ServerStats adds a StatsHandler told about every call's start and end.
func ServerStats(h StatsHandler) ServerOption {
	return func(o *serverOptions) { o.stats = append(o.stats, h) }
}

// IdleCallWorkers makes the server keep up to n goroutines that finished a call waiting
// for the next call, instead of starting a goroutine per call: a reused goroutine saves the
// start of a new one and keeps the stack the handlers grew. Idle workers exit when the
// server stops. Default 0 (DefaultIdleCallWorkers): a new goroutine per call, whose stack
// is freed when it ends; n <= 0 keeps that. At most n goroutines wait idle at any time;
// calls beyond the idle ones still start goroutines (MaxServerCalls bounds the calls).
//
// EXPERIMENTAL: a performance option (BENCHMARKS.md has its figures); it may change or go
// away in a later release.
func IdleCallWorkers(n int) ServerOption {
	return func(o *serverOptions) { o.idleCallWorkers = max(n, 0) }
}

// DefaultIdleCallWorkers is the default of IdleCallWorkers: no idle workers, a goroutine
// per call.
const DefaultIdleCallWorkers = 0

// LazyCallContext, when on, builds the cancellation part of a handler's context (the
// stream's context plus the call's deadline) only when the handler first asks for it
// (Done, Err, AfterFunc, or a context derived from it), so handlers that never look at it
// cost no context allocations. The context behaves the same either way. Default off: the
// context is built when the call starts.
//
// EXPERIMENTAL: a performance option (BENCHMARKS.md has its figures); it may change or go
// away in a later release.
func LazyCallContext(on bool) ServerOption {
	return func(o *serverOptions) { o.lazyCallContext = on }
}

// ServerLogger sets the logger for handler panics and connection errors. Default:
// slog.Default().
func ServerLogger(l *slog.Logger) ServerOption {
	return func(o *serverOptions) { o.logger = l }
}

// ClientOption configures a Client (functional options, like grpc-go).
type ClientOption func(*clientOptions)

type clientOptions struct {
	nap               nap.Config  // TLSConfig set by NewClient from tls and napTLS
	tls               *tls.Config // WithTLS
	napTLS            *tls.Config // WithNapConfig's TLSConfig
	maxConns          int
	backoffBase       time.Duration
	backoffMax        time.Duration
	dialTimeout       time.Duration
	unaryInts         []UnaryClientInterceptor
	streamInts        []StreamClientInterceptor
	callOpts          []CallOption
	stats             []StatsHandler
	logger            *slog.Logger
	balanced          bool              // WithBalancer or WithPicker given
	lbOpts            []lbclient.Option // WithBalancer's options
	compressThreshold int               // WithCompressionThreshold; 0: DefaultCompressionThreshold
}

// WithNapConfig sets the transport settings of the client's sessions; zero fields mean nap's
// defaults. It replaces the whole nap configuration. A non-nil cfg.TLSConfig is honoured
// exactly like WithTLS(cfg.TLSConfig). Giving both WithTLS and a WithNapConfig whose
// TLSConfig is a different *tls.Config is a conflict: NewClient returns an error wrapping
// ErrTLSConflict.
func WithNapConfig(cfg nap.Config) ClientOption {
	return func(o *clientOptions) {
		o.nap = cfg
		if cfg.TLSConfig != nil {
			o.napTLS = cfg.TLSConfig
		}
		o.nap.TLSConfig = nil // resolved with WithTLS by NewClient
	}
}

// WithTLS makes the client dial over TLS with cfg (set Certificates for mTLS, RootCAs and
// ServerName to verify the server). Default: plain TCP. See WithNapConfig for a TLSConfig
// given there too.
func WithTLS(cfg *tls.Config) ClientOption {
	return func(o *clientOptions) { o.tls = cfg }
}

// WithMaxConns sets how many nap sessions the client may open to its target; a new one is
// opened only when every open one is at the server's stream limit or going away. Default:
// DefaultMaxConns; values < 1 mean 1.
func WithMaxConns(n int) ClientOption {
	return func(o *clientOptions) { o.maxConns = n }
}

// WithBackoff sets the reconnect backoff: the wait after the first failed dial (base),
// doubling up to max. Defaults: DefaultBackoffBase, DefaultBackoffMax.
func WithBackoff(base, max time.Duration) ClientOption {
	return func(o *clientOptions) { o.backoffBase, o.backoffMax = base, max }
}

// WithDialTimeout bounds one dial including the TLS and nap handshakes. Default:
// DefaultDialTimeout.
func WithDialTimeout(d time.Duration) ClientOption {
	return func(o *clientOptions) { o.dialTimeout = d }
}

// WithChainUnaryInterceptor adds unary client interceptors; the first runs outermost.
func WithChainUnaryInterceptor(ints ...UnaryClientInterceptor) ClientOption {
	return func(o *clientOptions) { o.unaryInts = append(o.unaryInts, ints...) }
}

// WithChainStreamInterceptor adds stream client interceptors; the first runs outermost.
func WithChainStreamInterceptor(ints ...StreamClientInterceptor) ClientOption {
	return func(o *clientOptions) { o.streamInts = append(o.streamInts, ints...) }
}

// WithDefaultCallOptions sets call options applied to every call before the call's own.
func WithDefaultCallOptions(opts ...CallOption) ClientOption {
	return func(o *clientOptions) { o.callOpts = append(o.callOpts, opts...) }
}

// WithCompressionThreshold sets the size, in bytes, from which a call using
// UseCompressor compresses its request payload; smaller payloads are sent plain. Default
// DefaultCompressionThreshold (1 KiB); n <= 0 keeps it.
func WithCompressionThreshold(n int) ClientOption {
	return func(o *clientOptions) { o.compressThreshold = n }
}

// WithStats adds a StatsHandler told about every call's start and end.
func WithStats(h StatsHandler) ClientOption {
	return func(o *clientOptions) { o.stats = append(o.stats, h) }
}

// WithLogger sets the logger for connection events. Default: slog.Default().
func WithLogger(l *slog.Logger) ClientOption {
	return func(o *clientOptions) { o.logger = l }
}

// WithBalancer makes any target a list of servers (one without scheme, or one host:port,
// included) and passes opts to the client's lbclient balancer after the client's own:
// lbclient.WithBackendFailure(IsBackendFailure) and lbclient.WithLogger (the client's
// logger). Useful options: lbclient.WithPicker, WithFailureThreshold, WithEjection,
// WithRecovery, WithPanicThreshold, WithPickAttempts, WithProbe, WithRefresh, WithDNS,
// WithBackendFailure (your own error classifier). Each server has one shared per-server
// client, which has WithMaxConns sessions. May be given several times; the lists are
// concatenated. Default: a list only when the target has a scheme (lb:///, dns:///,
// srv:///, file://), with lbclient's defaults; a plain host:port is a list of one.
func WithBalancer(opts ...lbclient.Option) ClientOption {
	return func(o *clientOptions) {
		o.balanced = true
		o.lbOpts = append(o.lbOpts, opts...)
	}
}

// WithPicker makes the client balanced (like WithBalancer) with picker p:
// lbclient.PickLeastPending (lbclient's default), PickRoundRobin (exact weights),
// PickRandom, or PickHash (see HashKey). It is WithBalancer(lbclient.WithPicker(p)).
func WithPicker(p lbclient.Picker) ClientOption {
	return WithBalancer(lbclient.WithPicker(p))
}
