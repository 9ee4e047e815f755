package httpadapter

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/reflect/protoregistry"
)

// Server is the HTTP front: it routes every request either to a dora method (HTTP/JSON
// transcoding, see WithDora) or to an IIP backend (reverse proxy, see WithIIPRoute), and
// answers everything else 404. Use Handler to mount it in your own http.Server or mux, or
// Serve/ListenAndServe to let it listen, with the limits, timeouts and TLS of its options.
// It is safe for concurrent use. Create it with NewServer.
type Server struct {
	cfg     config
	routes  []Route
	hs      *http.Server
	metrics *metrics
	logger  *slog.Logger
	dora    *doraTranscoder // nil when WithDora was not given
	bufs    sync.Pool       // *scratch

	buffered atomic.Int64 // bytes of request bodies held, against cfg.maxBuffered

	iipHeaders map[string]bool // WithIIPHeaders allow-list (canonical names); nil: all

	unroutedRM, metricsRM *routeMetrics
	healthRM              *routeMetrics
	funcRM                sync.Map // route func route name -> *routeMetrics
}

// NewServer builds a Server from opts. An invalid option or route (no Backend, a pattern
// that does not compile, metrics that cannot be registered) is an error wrapping
// ErrBadOption.
func NewServer(opts ...Option) (*Server, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.maxBuffered == 0 {
		cfg.maxBuffered = max(DefaultMaxBufferedBytes, cfg.maxBodyBytes+1)
	}
	s := &Server{cfg: cfg, logger: cfg.logger}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if cfg.iipHeaders != nil {
		s.iipHeaders = make(map[string]bool, len(cfg.iipHeaders))
		for _, h := range cfg.iipHeaders {
			s.iipHeaders[http.CanonicalHeaderKey(h)] = true
		}
		if cfg.traceContext {
			for _, h := range TraceHeaders {
				s.iipHeaders[h] = true
			}
		}
	}
	s.routes = make([]Route, len(cfg.routes))
	copy(s.routes, cfg.routes)
	for i := range s.routes {
		if err := s.routes[i].compile(i); err != nil {
			return nil, err
		}
	}
	m, err := newMetrics(cfg.registerer)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.unroutedRM, s.metricsRM = m.forRoute(RouteUnrouted), m.forRoute(RouteMetrics)
	if cfg.healthPath != "" {
		s.healthRM = m.forRoute(RouteHealth)
	}
	for i := range s.routes {
		s.routes[i].metrics = m.forRoute(s.routes[i].Name)
	}
	if cfg.dora != nil {
		res := cfg.doraResolver
		if res == nil {
			res = protoregistry.GlobalFiles
		}
		s.dora = newDoraTranscoder(s, res)
	}
	var tlsCfg *tls.Config
	if cfg.tlsConfig != nil {
		tlsCfg = cfg.tlsConfig.Clone()
	}
	s.hs = &http.Server{
		Handler:           s,
		TLSConfig:         tlsCfg,
		MaxHeaderBytes:    cfg.maxHeaderBytes,
		ReadHeaderTimeout: cfg.readHeaderTimeout,
		ReadTimeout:       cfg.readTimeout,
		WriteTimeout:      cfg.writeTimeout,
		IdleTimeout:       cfg.idleTimeout,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Handler returns the Server as an http.Handler, for mounting in another server or mux.
// Body limit, call timeouts, routing, access log and metrics apply; the http.Server limits
// (header size, read/write/idle timeouts, TLS) are the embedding server's business.
func (s *Server) Handler() http.Handler { return s }

// MetricsHandler serves the Server's Prometheus metrics (see WithRegisterer).
func (s *Server) MetricsHandler() http.Handler { return s.metrics.handler() }

// Serve accepts HTTP connections on l (HTTPS with WithTLS) until Shutdown or Close, then
// returns http.ErrServerClosed. It may be called for several listeners. Temporary Accept
// errors (out of descriptors: EMFILE, ENFILE; ENOBUFS, ECONNABORTED...) do not stop it: they
// are retried with a backoff from AcceptBackoffMin doubling to AcceptBackoffMax, a burst
// logged once (Warn when it starts, Info when a connection is accepted again); any other
// Accept error is returned. A listener RetryListener returned is used as it is (it retries
// already; the example servers pass one).
func (s *Server) Serve(l net.Listener) error {
	if _, ok := l.(*retryListener); !ok {
		l = RetryListener(l, "httpadapter", s.logger)
	}
	if s.hs.TLSConfig != nil {
		return s.hs.ServeTLS(l, "", "")
	}
	return s.hs.Serve(l)
}

// ListenAndServe listens on the TCP address addr and calls Serve.
func (s *Server) ListenAndServe(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// Shutdown stops the Server gracefully: it closes the listeners, lets the requests in
// flight finish, closes idle connections, and returns nil. When ctx ends first it returns
// ctx's error and the remaining requests go on until they finish (call Close to cut them).
// It does not close the backends (iip and dora clients): close them after it.
func (s *Server) Shutdown(ctx context.Context) error { return s.hs.Shutdown(ctx) }

// Close closes the listeners and every connection at once; requests in flight are cut.
func (s *Server) Close() error { return s.hs.Close() }

// ServeHTTP routes and answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sc := s.getScratch()
	defer s.putScratch(sc)
	sc.rec = recorder{ResponseWriter: w}
	rec := &sc.rec
	var (
		rm  *routeMetrics
		err *httpError
	)
	switch {
	case s.cfg.metricsPath != "" && r.URL.Path == s.cfg.metricsPath:
		rm = s.metricsRM
		s.metrics.handler().ServeHTTP(rec, r)
	case s.cfg.healthPath != "" && r.URL.Path == s.cfg.healthPath:
		rm = s.healthRM
		if err = s.serveHealth(rec, r); err != nil {
			writeError(rec, err)
		}
	default:
		var m *doraMethod
		if s.dora != nil {
			m, err = s.dora.lookup(r.URL.Path)
		}
		switch {
		case m != nil:
			rm = m.metrics
			err = inFlight(rm, func() *httpError { return s.dora.serve(rec, r, m, sc) })
		case err != nil: // a known dora service without that method
			rm = s.unroutedRM
		default:
			rt := s.route(r)
			if rt == nil {
				rm = s.unroutedRM
				err = &httpError{http.StatusNotFound, CodeNoRoute, "httpadapter: no route for " + r.Host + " " + requestURI(r), 0}
				break
			}
			rm = rt.metrics
			if rm == nil { // a route from the route func
				rm = s.funcMetrics(rt.Name)
			}
			err = inFlight(rm, func() *httpError { return s.proxyIIP(rec, r, rt, sc) })
		}
		if err != nil && !rec.wrote {
			writeError(rec, err)
		}
	}
	d := time.Since(start)
	code := rec.status
	if code == 0 {
		code = http.StatusOK
	}
	if err != nil && err.status == StatusClientClosedRequest {
		code = StatusClientClosedRequest
	}
	errCode := ""
	if err != nil {
		errCode = err.code
	}
	rm.done(code, d, errCode)
	if s.cfg.accessLog && s.logger.Enabled(r.Context(), slog.LevelInfo) {
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("host", r.Host),
			slog.String("uri", requestURI(r)),
			slog.String("route", rm.label),
			slog.Int("status", code),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", d),
			slog.String("remote", r.RemoteAddr),
		}
		if err != nil {
			attrs = append(attrs, slog.String("error", err.message))
		}
		s.logger.LogAttrs(r.Context(), slog.LevelInfo, "httpadapter: request", attrs...)
	}
}

// inFlight runs fn counted in rm's in-flight gauge (also when a backend panics).
func inFlight(rm *routeMetrics, fn func() *httpError) *httpError {
	rm.inFlight.Inc()
	defer rm.inFlight.Dec()
	return fn()
}

// funcMetrics returns the metrics of a route returned by the route func, by name ("func"
// when it has none).
func (s *Server) funcMetrics(name string) *routeMetrics {
	if name == "" {
		name = "func"
	}
	if v, ok := s.funcRM.Load(name); ok {
		return v.(*routeMetrics)
	}
	v, _ := s.funcRM.LoadOrStore(name, s.metrics.forRoute(name))
	return v.(*routeMetrics)
}

// scratch holds the reusable buffers of one request.
type scratch struct {
	rec  recorder
	body []byte // request body
	js   []byte // __http_hdr__ JSON
	path []byte // IIP path

	reserved int64 // bytes of body counted against the server's budget (Server.buffered)
}

// maxPooledBuf is the largest buffer kept for reuse.
const maxPooledBuf = 64 << 10

func (s *Server) getScratch() *scratch {
	if sc, ok := s.bufs.Get().(*scratch); ok {
		return sc
	}
	return &scratch{body: make([]byte, 0, 4096)}
}

func (s *Server) putScratch(sc *scratch) {
	if sc.reserved != 0 {
		s.buffered.Add(-sc.reserved)
		sc.reserved = 0
	}
	if cap(sc.body) > maxPooledBuf || cap(sc.js) > maxPooledBuf || cap(sc.path) > maxPooledBuf {
		return
	}
	sc.body, sc.js, sc.path, sc.rec = sc.body[:0], sc.js[:0], sc.path[:0], recorder{}
	s.bufs.Put(sc)
}

// readBody reads the request body into sc.body, bounded by the body limit and by the
// server-wide budget of buffered bodies (WithMaxBufferedBytes).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, sc *scratch) ([]byte, *httpError) {
	limit := s.cfg.maxBodyBytes
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	buf := sc.body[:0]
	defer func() { sc.body = buf[:0] }()
	var herr *httpError
	if buf, herr = s.growBody(w, sc, buf, int64(cap(buf))); herr != nil { // count a large pooled buffer too
		return nil, herr
	}
	if r.ContentLength > 0 && int64(cap(buf)) < r.ContentLength+1 {
		// +1: room to see EOF without growing. A declared length is only a promise: at most
		// maxBodyPrealloc is allocated before the bytes arrive, the rest grows with what is read.
		if buf, herr = s.growBody(w, sc, buf, min(r.ContentLength+1, maxBodyPrealloc)); herr != nil {
			return nil, herr
		}
	}
	if rec, ok := w.(*recorder); ok {
		w = rec.ResponseWriter // so that net/http learns of a too large body and closes the connection
	}
	rd := http.MaxBytesReader(w, r.Body, limit)
	for {
		if len(buf) == cap(buf) {
			// MaxBytesReader returns at most limit bytes, so limit+1 always leaves room.
			if buf, herr = s.growBody(w, sc, buf, min(max(2*int64(cap(buf)), smallBody), limit+1)); herr != nil {
				return nil, herr
			}
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == nil {
			continue
		}
		var mbe *http.MaxBytesError
		switch {
		case err == io.EOF:
			return buf, nil
		case errors.As(err, &mbe):
			return nil, tooLarge(limit)
		case isTimeout(err):
			// The body came slower than the read timeout (WithTimeouts): the client is still
			// there, it is too slow. net/http cancels the request's context on this read
			// error too, so this test comes before the "went away" one.
			return nil, &httpError{http.StatusRequestTimeout, CodeRequestTimeout, "httpadapter: request body not received within the read timeout", 0}
		case r.Context().Err() != nil:
			return nil, &httpError{StatusClientClosedRequest, CodeCanceled, "httpadapter: client went away", 0}
		default:
			return nil, &httpError{http.StatusBadRequest, CodeBadRequest, "httpadapter: reading request body: " + err.Error(), 0}
		}
	}
}

// smallBody is the body capacity not counted against WithMaxBufferedBytes (4 KiB, the
// pooled buffer's first size): small requests never touch the shared counter.
const smallBody = 4096

// growBody returns buf with capacity newCap (buf itself when it has it already), after
// counting that capacity against the server's budget of buffered bodies; sc.reserved is what
// the request holds, given back when it ends (putScratch). When the budget is spent the
// request is answered 503 server_busy with Retry-After, and buf is returned unchanged so that
// readBody keeps it in the scratch for the next request.
func (s *Server) growBody(w http.ResponseWriter, sc *scratch, buf []byte, newCap int64) ([]byte, *httpError) {
	if newCap > smallBody {
		if delta := newCap - sc.reserved; delta > 0 {
			if s.buffered.Add(delta) > s.cfg.maxBuffered {
				s.buffered.Add(-delta)
				w.Header().Set("Retry-After", "1")
				return buf, &httpError{http.StatusServiceUnavailable, CodeServerBusy,
					"httpadapter: the request bodies in memory reached the server's limit of " + strconv.FormatInt(s.cfg.maxBuffered, 10) + " bytes; retry later", 0}
			}
			sc.reserved += delta
		}
	}
	if int64(cap(buf)) >= newCap {
		return buf, nil
	}
	nb := make([]byte, len(buf), newCap)
	copy(nb, buf)
	return nb, nil
}

// maxBodyPrealloc bounds what readBody allocates for a body on the strength of its
// Content-Length alone (64 KiB): a client that declares 4 MiB and sends nothing costs no more.
const maxBodyPrealloc = 64 << 10

// isTimeout reports whether a body read failed on a deadline (http.Server's ReadTimeout;
// os.ErrDeadlineExceeded is a net.Error whose Timeout is true).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func tooLarge(limit int64) *httpError {
	return &httpError{http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
		"httpadapter: request body exceeds limit of " + strconv.FormatInt(limit, 10) + " bytes", 0}
}

// recorder remembers the status and size of the answer.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
