package dora

import (
	"crypto/tls"
	"errors"
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
)

// ServerOption configures a Server; see NewServer. Every Option is a ServerOption.
type ServerOption interface {
	applyServer(*serverOptions)
}

// ClientOption configures a Client; see NewClient. Every Option is a ClientOption.
type ClientOption interface {
	applyClient(*clientOptions)
}

// Option is an option that means the same to a Server and to a Client: WithTLS,
// WithNapConfig, WithLogger, WithStats, WithCompressionThreshold and SendInPlace. It is both a
// ServerOption and a ClientOption, so one value may be given to NewServer and to NewClient
// (tlsOpt := WithTLS(cfg) for peers that both serve and call).
//
// dora's options are functional options, as in grpc-go, of three kinds: Options; options
// of a Server only (ServerOption: MaxRecvMsgSize, MaxConcurrentCalls, MaxConnReplyBytes,
// MaxServerReplyBytes, MaxServerCalls, RequestTimeout, ChainUnaryInterceptor,
// ChainStreamInterceptor, IdleCallWorkers, LazyCallContext, AliasRequests); options of a
// Client only (ClientOption: WithMaxConns, WithBackoff, WithDialTimeout,
// WithChainUnaryInterceptor, WithChainStreamInterceptor, WithDefaultCallOptions,
// WithBalancer, WithPicker). The
// interceptor options are one per side because their arguments differ. The three types
// are interfaces with unexported methods: only this package makes options. A nil option
// is ignored; among options that set the same thing, the last given wins.
type Option interface {
	ServerOption
	ClientOption
}

// serverOption, clientOption and sharedOption are the functions behind the three kinds.
type (
	serverOption func(*serverOptions)
	clientOption func(*clientOptions)
	sharedOption func(*sharedOptions)
)

func (f serverOption) applyServer(o *serverOptions) { f(o) }
func (f clientOption) applyClient(o *clientOptions) { f(o) }
func (f sharedOption) applyServer(o *serverOptions) { f(&o.sharedOptions) }
func (f sharedOption) applyClient(o *clientOptions) { f(&o.sharedOptions) }

// sharedOptions are the settings of the Options, embedded in both sides' settings.
type sharedOptions struct {
	nap               nap.Config  // WithNapConfig; its TLSConfig is always nil here (see napTLS)
	napTLS            bool        // WithNapConfig was given a TLSConfig: refused (ErrNapConfigTLS)
	tls               *tls.Config // WithTLS; nil: plain TCP
	stats             []StatsHandler
	logger            *slog.Logger
	compressThreshold int  // WithCompressionThreshold; 0: DefaultCompressionThreshold
	sendInPlace       bool // SendInPlace
}

// check returns the error of options that must not be combined, or nil.
func (o *sharedOptions) check() error {
	if o.napTLS {
		return ErrNapConfigTLS
	}
	return nil
}

type serverOptions struct {
	sharedOptions
	unaryInts  []UnaryServerInterceptor
	streamInts []StreamServerInterceptor

	maxConnReplyBytes   int           // MaxConnReplyBytes
	maxServerReplyBytes int           // MaxServerReplyBytes
	maxServerCalls      int           // MaxServerCalls
	requestTimeout      time.Duration // RequestTimeout
	idleCallWorkers     int           // IdleCallWorkers; 0: a goroutine per call
	lazyCallContext     bool          // LazyCallContext
	aliasRequests       bool          // AliasRequests
}

// ErrNapConfigTLS is the error (tested with errors.Is) of Server.Serve and of NewClient when
// WithNapConfig was given a nap.Config whose TLSConfig is set. dora's TLS is set in one place,
// WithTLS; nap.Config.TLSConfig is for programs that use nap directly. Serve refuses to serve
// (it never falls back to plain TCP) and NewServer logs the error.
var ErrNapConfigTLS = errors.New("dora: set TLS with WithTLS, not with WithNapConfig's nap.Config.TLSConfig")

// WithNapConfig sets the transport settings of the sessions (frame size, windows,
// keepalive, handshake timeout...) of a Server or a Client; zero fields mean nap's defaults
// (nap.Config documents them), and a configuration out of range (nap.VerifyConfig) makes
// Serve or the client's dials fail with an error wrapping nap.ErrInvalidConfig. It replaces
// the whole nap configuration, so a server's MaxRecvMsgSize and MaxConcurrentCalls must come
// after it to take effect. TLS is not set here: a cfg.TLSConfig that is not nil, in any
// WithNapConfig given (a later one does not undo it), makes Serve and NewClient fail with
// ErrNapConfigTLS; use WithTLS.
func WithNapConfig(cfg nap.Config) Option {
	return sharedOption(func(o *sharedOptions) {
		if cfg.TLSConfig != nil {
			o.napTLS = true // sticky: a later WithNapConfig must not turn it into plain TCP
		}
		o.nap = cfg
		o.nap.TLSConfig = nil // WithTLS is the one place; check refuses napTLS
	})
}

// WithTLS makes a Server serve and a Client dial over TLS with cfg; it is the only place
// dora's TLS is set. A server needs cfg.Certificates (or GetCertificate) and, for mutual
// TLS, ClientAuth and ClientCAs; a client needs RootCAs and ServerName to verify the server
// (ServerName defaults to the dialled server's host) and, for mutual TLS, Certificates. One cfg
// holding both sides' fields may be given to NewServer and NewClient alike. cfg is used as
// given, not cloned: do not change it after the option is applied. Default: plain TCP;
// WithTLS(nil) means plain TCP too. The last WithTLS given wins.
func WithTLS(cfg *tls.Config) Option {
	return sharedOption(func(o *sharedOptions) { o.tls = cfg })
}

// WithLogger sets the logger of a Server (handler panics, with their stack; connection
// errors; refused calls) or of a Client (connection events; its balancer's events).
// Default: slog.Default(); nil means the default.
func WithLogger(l *slog.Logger) Option {
	return sharedOption(func(o *sharedOptions) { o.logger = l })
}

// WithStats adds a StatsHandler told about every call's start and end, the server's calls
// on a Server and the client's on a Client (CallInfo.Client tells them apart). May be given
// several times; every handler is told, in the order given; a nil h is ignored. Default:
// none. dora/otel provides OpenTelemetry handlers.
func WithStats(h StatsHandler) Option {
	return sharedOption(func(o *sharedOptions) {
		if h != nil {
			o.stats = append(o.stats, h)
		}
	})
}

// WithCompressionThreshold sets the size, in bytes, from which a payload this side sends is
// gzipped when compression applies; smaller payloads are sent plain. On a Client it applies
// to the requests of calls using UseCompressor; on a Server to the unary responses of
// clients that called with UseCompressor(Gzip) (clients that do not ask, legacy and
// previous-version dora clients among them, always get plain responses). Default
// DefaultCompressionThreshold (1 KiB); n <= 0 keeps it.
func WithCompressionThreshold(n int) Option {
	return sharedOption(func(o *sharedOptions) { o.compressThreshold = n })
}

// SendInPlace(true) makes this side send the largest top-level singular bytes field of a
// proto message, when it has one of at least 64 KiB, from the message's own memory instead
// of copying it into the encoding: on a Client for requests, on a Server for unary
// responses (README, "Behaviour worth knowing"). The rest of the message is encoded, the
// field comes last on the wire (any protobuf decoder accepts it) and its bytes go to the
// socket in the same vectored write. It saves one copy of the field per message (1 MiB:
// about 40 µs of CPU, BENCHMARKS.md), and changes how long the message is read: the
// field's memory is read until the message is sent, which for a unary response can be
// after the handler returned, as long as flow control makes dora wait for a slow client.
// A handler that returns a slice another goroutine rewrites must then return a copy.
// Compressed calls, streams, other codecs and nested fields are encoded in one piece as
// without it. Default false (every message is encoded in one piece). EXPERIMENTAL.
func SendInPlace(on bool) Option {
	return sharedOption(func(o *sharedOptions) { o.sendInPlace = on })
}

// MaxRecvMsgSize bounds the size of one request Pkg (head + payload), in bytes; larger
// messages reset their stream and the client sees ResourceExhausted. Default:
// nap.DefaultMaxMessageSize (4 MiB); valid 0 (the default) or 1 to 2^31-1: Serve refuses
// other values (nap.ErrInvalidConfig).
func MaxRecvMsgSize(n int) ServerOption {
	return serverOption(func(o *serverOptions) { o.nap.MaxMessageSize = n })
}

// MaxConcurrentCalls bounds the calls one connection may have in flight; nap refuses streams
// past it and a dora client then opens another connection. Default:
// nap.DefaultMaxConcurrentStreams (1024); valid 0 (the default) or 1 to 2^31-1: Serve
// refuses other values (nap.ErrInvalidConfig).
func MaxConcurrentCalls(n int) ServerOption {
	return serverOption(func(o *serverOptions) { o.nap.MaxConcurrentStreams = n })
}

// MaxConnReplyBytes bounds the encoded reply bytes (unary responses and streamed
// messages) one connection may have waiting to be sent, for peers that do not read. A reply
// that does not fit waits, without holding its encoding, until it fits, at most nap's
// WriteTimeout (nap.DefaultWriteTimeout, 10 s) or the call's deadline, then fails its call
// with ResourceExhausted. A connection with nothing waiting always takes one reply, whatever
// its size. Default: DefaultMaxConnReplyBytes (16 MiB); n <= 0 means the default.
func MaxConnReplyBytes(n int) ServerOption {
	return serverOption(func(o *serverOptions) {
		if n > 0 {
			o.maxConnReplyBytes = n
		}
	})
}

// MaxServerReplyBytes bounds the encoded reply bytes all connections together may have
// waiting to be sent; replies that do not fit wait as for MaxConnReplyBytes, except replies
// of at most 4 KiB, which never wait for it (they count, and may take it past the limit by
// at most MaxServerCalls x 4 KiB) so that small answers are not delayed. While replies
// wait for it, a connection that holds reply bytes and has completed no send for a second
// is closed (the one holding the most first): peers that never read pay, not the others.
// Default: DefaultMaxServerReplyBytes (64 MiB); n <= 0 means the default.
func MaxServerReplyBytes(n int) ServerOption {
	return serverOption(func(o *serverOptions) {
		if n > 0 {
			o.maxServerReplyBytes = n
		}
	})
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
	return serverOption(func(o *serverOptions) {
		if n > 0 {
			o.maxServerCalls = n
		}
	})
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
	return serverOption(func(o *serverOptions) {
		if d != 0 {
			o.requestTimeout = d
		}
	})
}

// ChainUnaryInterceptor adds unary interceptors; the first given runs outermost. May be
// given several times; the lists are concatenated.
func ChainUnaryInterceptor(ints ...UnaryServerInterceptor) ServerOption {
	return serverOption(func(o *serverOptions) { o.unaryInts = append(o.unaryInts, ints...) })
}

// ChainStreamInterceptor adds stream interceptors; the first given runs outermost.
func ChainStreamInterceptor(ints ...StreamServerInterceptor) ServerOption {
	return serverOption(func(o *serverOptions) { o.streamInts = append(o.streamInts, ints...) })
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
	return serverOption(func(o *serverOptions) { o.idleCallWorkers = max(n, 0) })
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
	return serverOption(func(o *serverOptions) { o.lazyCallContext = on })
}

type clientOptions struct {
	sharedOptions // its nap.TLSConfig is set from tls by NewClient: nap dials TLS
	maxConns      int
	backoffBase   time.Duration
	backoffMax    time.Duration
	dialTimeout   time.Duration
	unaryInts     []UnaryClientInterceptor
	streamInts    []StreamClientInterceptor
	callOpts      []CallOption
	balanced      bool              // WithBalancer or WithPicker given
	lbOpts        []lbclient.Option // WithBalancer's options
}

// WithMaxConns sets how many nap sessions the client may open to each server; a new one is
// opened only when every open one is at the server's stream limit or going away. Default:
// DefaultMaxConns (4); n < 1 means the default.
func WithMaxConns(n int) ClientOption {
	return clientOption(func(o *clientOptions) { o.maxConns = n })
}

// WithBackoff sets the reconnect backoff: the wait after the first failed dial (base),
// doubling up to max. Defaults: DefaultBackoffBase (100 ms), DefaultBackoffMax (5 s). base
// <= 0 means its default; a max below base (0 included) means the larger of
// DefaultBackoffMax and base.
func WithBackoff(base, max time.Duration) ClientOption {
	return clientOption(func(o *clientOptions) { o.backoffBase, o.backoffMax = base, max })
}

// WithDialTimeout bounds one dial including the TLS and nap handshakes. Default:
// DefaultDialTimeout (10 s); d <= 0 means the default.
func WithDialTimeout(d time.Duration) ClientOption {
	return clientOption(func(o *clientOptions) { o.dialTimeout = d })
}

// WithChainUnaryInterceptor adds unary client interceptors; the first runs outermost.
func WithChainUnaryInterceptor(ints ...UnaryClientInterceptor) ClientOption {
	return clientOption(func(o *clientOptions) { o.unaryInts = append(o.unaryInts, ints...) })
}

// WithChainStreamInterceptor adds stream client interceptors; the first runs outermost.
func WithChainStreamInterceptor(ints ...StreamClientInterceptor) ClientOption {
	return clientOption(func(o *clientOptions) { o.streamInts = append(o.streamInts, ints...) })
}

// WithDefaultCallOptions sets call options applied to every call before the call's own.
func WithDefaultCallOptions(opts ...CallOption) ClientOption {
	return clientOption(func(o *clientOptions) { o.callOpts = append(o.callOpts, opts...) })
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
	return clientOption(func(o *clientOptions) {
		o.balanced = true
		o.lbOpts = append(o.lbOpts, opts...)
	})
}

// WithPicker makes the client balanced (like WithBalancer) with picker p:
// lbclient.PickLeastPending (lbclient's default), PickRoundRobin (exact weights),
// PickRandom, or PickHash (see HashKey). It is WithBalancer(lbclient.WithPicker(p)).
func WithPicker(p lbclient.Picker) ClientOption {
	return WithBalancer(lbclient.WithPicker(p))
}
