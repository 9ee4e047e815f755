package iip

import (
	"crypto/tls"
	"log/slog"
	"syscall"
)

// Options are functional options, as in grpc-go, of three kinds:
//
//   - an Option means the same to both sides: WithConfig, WithTLS,
//     WithLogger and WithControl. One value may be given to NewServer and
//     to Dial, NewClient or NewLoadBalanceClient (tlsOpt := WithTLS(cfg)
//     for a program that both serves and calls).
//   - a ClientOption configures only a client (client_options.go):
//     WithDialTimeout, WithKeepalive and WithPool for Dial, NewClient and
//     NewLoadBalanceClient, and the balancer's WithPicker,
//     WithHashQueryParam, WithBackendFailure and WithBalancer
//     for NewLoadBalanceClient only.
//   - a ServerOption configures only a Server (server_options.go):
//     WithLimits (connections, channels, queues, handlers and byte
//     budgets), WithTimeouts and WithRecycleRequestData.
//
// The interfaces have unexported methods: only this package makes options.
// A nil option is ignored; when an option is given twice, the last wins.
// An option value out of its documented range makes the constructor
// return an error wrapping ErrInvalidConfig.

// ClientOption configures Dial, NewClient and NewLoadBalanceClient. Every
// Option is a ClientOption.
type ClientOption interface {
	applyClient(*clientOptions)
}

// ServerOption configures NewServer. Every Option is a ServerOption.
type ServerOption interface {
	applyServer(*serverOptions)
}

// Option means the same to a client and to a server: it is both a
// ClientOption and a ServerOption.
type Option interface {
	ClientOption
	ServerOption
}

// clientOption, serverOption and sharedOption are the functions behind the
// three kinds.
type (
	clientOption func(*clientOptions)
	serverOption func(*serverOptions)
	sharedOption func(*sharedOptions)
)

func (f clientOption) applyClient(o *clientOptions) { f(o) }
func (f serverOption) applyServer(o *serverOptions) { f(o) }
func (f sharedOption) applyClient(o *clientOptions) { f(&o.sharedOptions) }
func (f sharedOption) applyServer(o *serverOptions) { f(&o.sharedOptions) }

// sharedOptions are the settings of the Options, embedded in both sides'
// settings.
type sharedOptions struct {
	Config
	TLSConfig *tls.Config                                            // WithTLS
	Logger    *slog.Logger                                           // WithLogger
	Control   func(network, address string, c syscall.RawConn) error // WithControl
}

// WithConfig sets the connection settings (Config) of a client's
// connections or of a server's. It replaces the whole Config: zero fields
// mean their defaults, and a field out of its documented range makes the
// constructor fail with an error wrapping ErrInvalidConfig (VerifyConfig).
// Default: Config{}, all defaults.
func WithConfig(c Config) Option {
	return sharedOption(func(o *sharedOptions) { o.Config = c })
}

// WithTLS makes a client dial and a server serve over TLS with cfg; it is
// the only place iip's TLS is set. A client verifies the server's
// certificate with cfg.RootCAs (cfg.ServerName defaults to the host of
// the address dialed; cfg is cloned for that) and presents
// cfg.Certificates for mutual TLS; a server needs cfg.Certificates (or
// GetCertificate) and, for mutual TLS, ClientAuth
// (tls.RequireAndVerifyClientCert) and ClientCAs. One cfg holding both
// sides' fields may be given to both. Do not change cfg once it is in
// use. Default: plain TCP; WithTLS(nil) means plain TCP too.
func WithTLS(cfg *tls.Config) Option {
	return sharedOption(func(o *sharedOptions) { o.TLSConfig = cfg })
}

// WithLogger sets the logger of a client (connection-level problems, and
// a balanced client's resolver and probe errors) or of a server
// (connection-level problems and handler panics). Default: slog.Default();
// nil means the default.
func WithLogger(l *slog.Logger) Option {
	return sharedOption(func(o *sharedOptions) { o.Logger = l })
}

// WithControl sets the Control function of the sockets: on a client,
// net.Dialer's Control, called with each connection's socket before it
// connects; on a server, net.ListenConfig's Control for ListenAndServe,
// called with the listening socket before it is bound (accepted sockets
// inherit most of its options; Serve, given its listener, does not use
// it). An error fails the dial or ListenAndServe. Use it to set socket
// options iip has no setting for. Default: nil.
func WithControl(f func(network, address string, c syscall.RawConn) error) Option {
	return sharedOption(func(o *sharedOptions) { o.Control = f })
}
