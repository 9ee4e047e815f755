package httpadapter

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"
)

// Defaults of the options; a Server built with no option uses these.
const (
	// DefaultMaxBodyBytes bounds a request body (4 MiB); a larger one is answered 413.
	DefaultMaxBodyBytes = 4 << 20
	// DefaultMaxBufferedBytes bounds the request bodies held in memory at once by all the
	// requests of a Server together (64 MiB): a request whose body would go past it is
	// answered 503 "server_busy" with Retry-After. Bodies up to 4 KiB are not counted.
	DefaultMaxBufferedBytes = 64 << 20
	// DefaultMaxHeaderBytes bounds the request line plus headers (64 KiB; net/http's own
	// default is 1 MiB, which 1,000 slow peers would turn into 1 GB); a larger header is
	// answered 431 by net/http. The IIP path, headers included, is limited to 2048 bytes
	// anyway.
	DefaultMaxHeaderBytes = 64 << 10
	// DefaultReadHeaderTimeout bounds reading the request line and headers.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout bounds reading a whole request, body included; a body still
	// arriving when it expires is answered 408 with code "request_timeout".
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds a request from the end of its headers to the end of the
	// response; keep it above the call timeout.
	DefaultWriteTimeout = 60 * time.Second
	// DefaultIdleTimeout is how long a keep-alive connection may wait for its next request.
	DefaultIdleTimeout = 120 * time.Second
	// DefaultCallTimeout bounds one backend call (IIP or dora) unless a route sets its own.
	DefaultCallTimeout = 10 * time.Second
	// DefaultHeaderFormat is how HTTP headers travel toward IIP servers: HeaderMulti, the
	// array-valued form deployed IIP backends decode.
	DefaultHeaderFormat = HeaderMulti
)

// Option configures a Server (functional options, like grpc-go). Options are applied in
// order; a later option overrides an earlier one of the same kind, except WithIIPRoute,
// which appends.
type Option func(*config)

type config struct {
	routes            []Route
	routeFunc         func(r *http.Request) *Route
	headerFormat      HeaderFormat
	iipHeaders        []string
	maxBodyBytes      int64
	maxBuffered       int64 // 0: default (see NewServer)
	maxHeaderBytes    int
	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	writeTimeout      time.Duration
	idleTimeout       time.Duration
	callTimeout       time.Duration
	tlsConfig         *tls.Config
	logger            *slog.Logger
	accessLog         bool
	registerer        prometheus.Registerer
	metricsPath       string
	traceContext      bool
	healthPath        string
	healthBackend     DoraConn
	healthService     string

	dora            DoraConn
	doraResolver    DescriptorResolver
	doraPrefix      string
	doraReqHeaders  []string
	doraRespHeaders []string
	doraHashKey     func(r *http.Request) string
	doraMarshal     protojson.MarshalOptions
	doraUnmarshal   protojson.UnmarshalOptions
}

func defaultConfig() config {
	return config{
		headerFormat:      DefaultHeaderFormat,
		maxBodyBytes:      DefaultMaxBodyBytes,
		maxHeaderBytes:    DefaultMaxHeaderBytes,
		readHeaderTimeout: DefaultReadHeaderTimeout,
		readTimeout:       DefaultReadTimeout,
		writeTimeout:      DefaultWriteTimeout,
		idleTimeout:       DefaultIdleTimeout,
		callTimeout:       DefaultCallTimeout,
		accessLog:         true,
		traceContext:      true,
		doraPrefix:        "/",
	}
}

func (c *config) validate() error {
	switch {
	case c.maxBodyBytes <= 0:
		return fmt.Errorf("%w: max body bytes %d must be positive", ErrBadOption, c.maxBodyBytes)
	case c.maxBuffered != 0 && c.maxBuffered <= c.maxBodyBytes:
		return fmt.Errorf("%w: max buffered bytes %d must exceed the max body bytes %d", ErrBadOption, c.maxBuffered, c.maxBodyBytes)
	case c.maxHeaderBytes <= 0:
		return fmt.Errorf("%w: max header bytes %d must be positive", ErrBadOption, c.maxHeaderBytes)
	case c.callTimeout <= 0:
		return fmt.Errorf("%w: call timeout %v must be positive", ErrBadOption, c.callTimeout)
	case c.readHeaderTimeout < 0 || c.readTimeout < 0 || c.writeTimeout < 0 || c.idleTimeout < 0:
		return fmt.Errorf("%w: negative server timeout", ErrBadOption)
	case c.headerFormat < HeaderOff || c.headerFormat > HeaderMulti:
		return fmt.Errorf("%w: unknown header format %d", ErrBadOption, c.headerFormat)
	case c.doraPrefix == "" || c.doraPrefix[0] != '/' || c.doraPrefix[len(c.doraPrefix)-1] != '/':
		return fmt.Errorf("%w: dora prefix %q must start and end with /", ErrBadOption, c.doraPrefix)
	case c.metricsPath != "" && c.metricsPath[0] != '/':
		return fmt.Errorf("%w: metrics path %q must start with /", ErrBadOption, c.metricsPath)
	case c.healthPath != "" && c.healthPath[0] != '/':
		return fmt.Errorf("%w: health path %q must start with /", ErrBadOption, c.healthPath)
	case c.healthPath != "" && c.healthPath == c.metricsPath:
		return fmt.Errorf("%w: health and metrics paths are both %q", ErrBadOption, c.healthPath)
	}
	return nil
}

// WithIIPRoute appends a route to the IIP route table. Routes are tried in the order they
// were added and the first that matches wins; see Route. A route with neither Host, Pattern
// nor Match matches every request (put it last). A route without Backend, or with a Pattern
// that does not compile, makes NewServer fail with ErrBadOption.
func WithIIPRoute(r Route) Option { return func(c *config) { c.routes = append(c.routes, r) } }

// WithRouteFunc sets a hook consulted before the route table for every request that is not
// a dora call: a non-nil *Route it returns (with a Backend) is used as is (its Host, Pattern
// and Match are not checked); nil falls through to the table. The returned route's Name is a
// metrics label: return a few fixed routes, not one per request. Default: none.
func WithRouteFunc(f func(r *http.Request) *Route) Option {
	return func(c *config) { c.routeFunc = f }
}

// WithHeaderFormat sets how the HTTP method and headers travel toward IIP servers (the
// __http_hdr__ query argument, see HeaderFormat). Default DefaultHeaderFormat (HeaderMulti).
func WithHeaderFormat(f HeaderFormat) Option { return func(c *config) { c.headerFormat = f } }

// WithIIPHeaders limits the request headers forwarded in __http_hdr__ to names
// (case-insensitive); the method, Host, X-Forwarded-For and X-Forwarded-Proto are always
// sent. Use it when large headers (cookies, long user agents) would push the IIP path over
// its 2048-byte limit (answered 431). Default: every end-to-end header.
func WithIIPHeaders(names ...string) Option {
	return func(c *config) { c.iipHeaders = append([]string{}, names...) }
}

// WithMaxBodyBytes bounds the request body; a larger body is answered 413 with code
// "body_too_large" and never reaches a backend. Default DefaultMaxBodyBytes.
func WithMaxBodyBytes(n int64) Option { return func(c *config) { c.maxBodyBytes = n } }

// WithMaxBufferedBytes bounds the request bodies all the requests of the Server hold in
// memory at once (each request counts the capacity of its body buffer, bodies up to 4 KiB
// excepted, until its answer is written). A request whose body would go past it is answered
// 503 with code "server_busy" and Retry-After: 1, before any backend call. It must be
// more than the body limit (WithMaxBodyBytes), else NewServer fails. Default
// DefaultMaxBufferedBytes, or the body limit plus one when that is larger.
func WithMaxBufferedBytes(n int64) Option {
	return func(c *config) {
		c.maxBuffered = n
		if n == 0 {
			c.maxBuffered = -1 // an explicit 0 is invalid, not "default"
		}
	}
}

// WithMaxHeaderBytes bounds the request line and headers (http.Server.MaxHeaderBytes);
// net/http answers a larger header with 431. Default DefaultMaxHeaderBytes. It applies to
// Serve and ListenAndServe only, not to Handler embedded in another server.
func WithMaxHeaderBytes(n int) Option { return func(c *config) { c.maxHeaderBytes = n } }

// WithTimeouts sets the HTTP server's timeouts (see net/http.Server): reading the headers,
// reading the whole request, writing the response, and keep-alive idleness. Zero keeps the
// default of that one (DefaultReadHeaderTimeout, DefaultReadTimeout, DefaultWriteTimeout,
// DefaultIdleTimeout); negative values make NewServer fail. They apply to Serve and
// ListenAndServe only.
func WithTimeouts(readHeader, read, write, idle time.Duration) Option {
	return func(c *config) {
		set := func(dst *time.Duration, v time.Duration) {
			if v != 0 {
				*dst = v
			}
		}
		set(&c.readHeaderTimeout, readHeader)
		set(&c.readTimeout, read)
		set(&c.writeTimeout, write)
		set(&c.idleTimeout, idle)
	}
}

// WithCallTimeout bounds each backend call (IIP or dora) that has no Route.Timeout of its
// own; when it expires the request is answered 504. The request's own context (client gone,
// server closing) bounds the call too. Default DefaultCallTimeout.
func WithCallTimeout(d time.Duration) Option { return func(c *config) { c.callTimeout = d } }

// WithTLS makes Serve and ListenAndServe speak HTTPS with cfg, which must hold a
// certificate (Certificates or GetCertificate); it is the only place the listener's TLS is
// set. For mutual TLS set cfg.ClientAuth (tls.RequireAndVerifyClientCert) and
// cfg.ClientCAs. Default: plain HTTP. cfg is cloned when NewServer runs: later changes to it
// are not seen.
func WithTLS(cfg *tls.Config) Option { return func(c *config) { c.tlsConfig = cfg } }

// WithLogger sets the logger of the access log and of server errors. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithAccessLog turns the access log (one Info record "httpadapter: request" per request)
// on or off. Default on.
func WithAccessLog(on bool) Option { return func(c *config) { c.accessLog = on } }

// WithRegisterer registers the Server's Prometheus metrics on reg instead of on a registry
// of its own (MetricsHandler then serves prometheus.DefaultGatherer when reg is
// prometheus.DefaultRegisterer, else reg when it is also a prometheus.Gatherer). Two Servers
// on one Registerer conflict: NewServer fails. Default: a private registry.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(c *config) { c.registerer = reg }
}

// WithMetricsPath serves the metrics (MetricsHandler) at path on the Server's own handler,
// before any route. Default "" (not served: mount MetricsHandler yourself).
func WithMetricsPath(path string) Option { return func(c *config) { c.metricsPath = path } }

// WithDora turns on HTTP/JSON transcoding to dora: POST <prefix>package.Service/Method with
// a JSON body calls that method on conn, a *dora.Client: one server ("host:port") or a
// balanced client over many ("lb:///a:7000,b:7000", "dns:///...", see dora.NewClient).
// The Server does not close conn. Default: off (such paths go to the IIP routes).
func WithDora(conn DoraConn) Option { return func(c *config) { c.dora = conn } }

// WithDoraResolver sets where service and message descriptors are looked up. A
// *protoregistry.Files also serves as the type resolver of google.protobuf.Any fields.
// Default protoregistry.GlobalFiles (every generated package linked into the program).
func WithDoraResolver(r DescriptorResolver) Option { return func(c *config) { c.doraResolver = r } }

// WithDoraPrefix sets the path prefix of dora calls: prefix + "package.Service/Method".
// It must start and end with "/". Default "/".
func WithDoraPrefix(prefix string) Option { return func(c *config) { c.doraPrefix = prefix } }

// TraceHeaders are the W3C trace-context headers (https://www.w3.org/TR/trace-context/)
// WithTraceContext forwards.
var TraceHeaders = []string{"Traceparent", "Tracestate"}

// WithTraceContext sets whether the W3C trace-context headers (TraceHeaders: traceparent and
// tracestate) of a request travel on: to dora calls as metadata of the same lower-case names
// (which dora/otel's server handler reads, so the dora server's span is the child of the
// HTTP client's), and to IIP backends in __http_hdr__ even when WithIIPHeaders leaves them
// out. The adapter itself starts no span and needs no OpenTelemetry. Default: on. Off, they
// travel only when WithDoraHeaders or WithIIPHeaders name them (or WithIIPHeaders is unset:
// then every header goes to IIP backends).
func WithTraceContext(on bool) Option { return func(c *config) { c.traceContext = on } }

// WithHealthCheck answers GET (and any other method) on path (for instance "/healthz") for
// load balancers and Kubernetes probes. With a nil backend the answer is 200
// {"status":"SERVING"} while the adapter runs. With a backend (the *dora.Client of
// WithDora, say), each request calls the backend's dora.health.v1.Health/Check for service
// ("" is the whole server) within the call timeout (WithCallTimeout): SERVING is 200
// {"status":"SERVING"}; any other status is 503 {"status":"NOT_SERVING"} (or
// "SERVICE_UNKNOWN"); a failed call is 503 with the usual error body (code "NotFound" for a
// service the backend does not know, "Unavailable", "DeadlineExceeded"...). The path must
// start with "/" and differ from the metrics path. Default: no health path.
func WithHealthCheck(path string, backend DoraConn, service string) Option {
	return func(c *config) { c.healthPath, c.healthBackend, c.healthService = path, backend, service }
}

// WithDoraHeaders names the request headers (case-insensitive) that become dora metadata of
// the call, under their lower-case name; several values of one header are joined with ", ".
// Keys starting with "dora-" are reserved and never forwarded. Default: none.
func WithDoraHeaders(names ...string) Option {
	return func(c *config) { c.doraReqHeaders = append([]string(nil), names...) }
}

// WithDoraResponseHeaders names the response header metadata keys of a dora call that
// become HTTP response headers (canonical form of the key); "*" means every key. Default:
// none.
func WithDoraResponseHeaders(keys ...string) Option {
	return func(c *config) { c.doraRespHeaders = append([]string(nil), keys...) }
}

// WithDoraHashKey gives each dora call a hash key (dora.HashKey) computed from its request:
// a balanced *dora.Client with lbclient.PickHash sends calls with one key to one server (use
// the client IP, a user ID...). Default: none.
func WithDoraHashKey(f func(r *http.Request) string) Option {
	return func(c *config) { c.doraHashKey = f }
}

// WithDoraJSON sets the protojson options of the transcoding: m writes responses, u reads
// requests. Defaults: the zero values (lowerCamelCase names, unpopulated fields omitted,
// unknown fields rejected with 400). Their Resolver fields are replaced by the resolver of
// WithDoraResolver when that is a *protoregistry.Files.
func WithDoraJSON(m protojson.MarshalOptions, u protojson.UnmarshalOptions) Option {
	return func(c *config) { c.doraMarshal, c.doraUnmarshal = m, u }
}
