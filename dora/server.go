package dora

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/seed857a6cbd/pocket/nap"
)

// ErrServerStopped is returned by Serve called after Stop or GracefulStop.
var ErrServerStopped = errors.New("dora: server stopped")

// Accept backoff: after a temporary accept error Serve waits acceptBackoffMin, doubling
// per consecutive error up to acceptBackoffMax (net/http's figures).
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = 1 * time.Second
)

// isTemporaryAcceptErr reports whether err, from Accept, is worth retrying: the process
// or the system is out of descriptors, memory or buffers, the connection was aborted
// before we took it, or the error says it is a timeout or temporary. A closed listener is
// never temporary.
func isTemporaryAcceptErr(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return false
	}
	for _, errno := range [...]syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED,
		syscall.ENOBUFS, syscall.ENOMEM, syscall.EAGAIN, syscall.EINTR, syscall.EPROTO} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return true
	}
	var tmp interface{ Temporary() bool }
	return errors.As(err, &tmp) && tmp.Temporary()
}

// Server serves registered services to dora clients (and legacy clients) over nap sessions.
// Register every service before Serve; then Serve any number of listeners. Each call runs
// on its own goroutine (or a reused one, with IdleCallWorkers).
type Server struct {
	opts      serverOptions
	tls       *tls.Config // WithTLS; nil: plain TCP
	optErr    error       // refused options (ErrNapConfigTLS) or a nap config out of range: Serve refuses to serve
	unaryInt  UnaryServerInterceptor
	streamInt StreamServerInterceptor
	logger    *slog.Logger

	mu        sync.Mutex
	methods   map[string]*methodEntry // "/pkg.Svc/Method"
	bare      map[string]*methodEntry // "Method" -> entry; nil entry when ambiguous
	services  map[string]*ServiceDesc
	listeners map[*nap.Listener]struct{}
	sessions  map[*nap.Session]*connState
	replies   replyBudget  // MaxServerReplyBytes
	calls     atomic.Int64 // calls admitted and not finished (MaxServerCalls)

	reqGen      atomic.Uint32 // request-timeout generation (request.go)
	reaperUsers int           // Serve calls running; guarded by mu
	reaperStop  chan struct{} // closed when the last Serve returns; guarded by mu
	reaperDone  chan struct{} // closed when that reaper has returned; guarded by mu
	refusing    atomic.Bool   // the last call was refused for MaxServerCalls (logs once per burst)
	serving     bool
	stopped     bool
	draining    bool

	sessWG sync.WaitGroup // session loops
	callWG sync.WaitGroup // calls in flight

	stopping     chan struct{} // closed by Stop and GracefulStop: ends accept backoff waits
	stoppingOnce sync.Once

	// IdleCallWorkers only (nil work otherwise: a goroutine per call)
	work     chan streamWork // hands streams to reserved idle workers
	quit     chan struct{}   // closed when workers must exit
	quitOnce sync.Once
	idle     atomic.Int32
	started  atomic.Int64 // workers started (tests)
	spawn    func()       // s.worker, built once
	workerWG sync.WaitGroup
}

// workQueueSize is the capacity of the channel that hands streams to idle workers
// (IdleCallWorkers); it only bounds how many handed-over streams may wait for their
// (already committed) worker to be scheduled before the session's accept loop waits too.
const workQueueSize = 1024

type streamWork struct {
	conn *connState
	st   *nap.Stream
}

// dispatchWorker runs the call of st on an idle worker, or on a new one (IdleCallWorkers);
// the caller has counted it in callWG.
//
// idle counts workers that finished a call and are committed to take the next one from
// work. dispatchWorker reserves one by decrementing idle (never below zero) and hands it
// the stream through the buffered work channel, so a worker that has finished its call
// but is not yet parked in its receive still gets the next call instead of a new
// goroutine being started. When no worker is idle, it starts one with the prebuilt
// s.spawn (a go statement with arguments would allocate a closure per start) and sends
// the stream through work too: every send has exactly one committed receiver (a reserved
// worker or a started one), so a send that finds the buffer full waits only for those
// receivers to be scheduled. Stop and GracefulStop close quit only after every session
// loop (the only callers of dispatchWorker) has returned and every dispatched call has
// finished, so no work is left in the channel.
func (s *Server) dispatchWorker(w streamWork) {
	for {
		n := s.idle.Load()
		if n <= 0 {
			break
		}
		if s.idle.CompareAndSwap(n, n-1) {
			s.work <- w
			return
		}
	}
	s.workerWG.Add(1)
	s.started.Add(1)
	go s.spawn()
	s.work <- w
}

// worker serves calls until it is not needed as an idle worker or quit is closed. Any
// waiting worker may take any stream from work (a parked one may take the stream sent for
// a newly started one), so every receive also watches quit: once quit is closed no stream
// is left to take.
func (s *Server) worker() {
	defer s.workerWG.Done()
	for {
		var w streamWork
		select {
		case w = <-s.work:
		case <-s.quit:
			return
		}
		s.handleStream(w.conn, w.st)
		if !s.park() {
			return
		}
	}
}

// park counts the calling worker as idle unless IdleCallWorkers already are; it reports
// whether it did (the worker must then receive its next call from work).
func (s *Server) park() bool {
	for {
		n := s.idle.Load()
		if int(n) >= s.opts.idleCallWorkers {
			return false
		}
		if s.idle.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// stopWorkers makes the idle workers exit (IdleCallWorkers) and waits for them.
func (s *Server) stopWorkers() {
	if s.work == nil {
		return
	}
	s.quitOnce.Do(func() { close(s.quit) })
	s.workerWG.Wait()
}

type methodEntry struct {
	full   string
	impl   any
	unary  *MethodDesc
	stream *StreamDesc
}

// NewServer returns a Server with opts applied: the Options (WithTLS, WithNapConfig,
// WithLogger, WithStats, WithCompressionThreshold) and the ServerOptions; later options
// override earlier ones, nil ones are ignored. Options that cannot work (WithNapConfig with a
// TLSConfig, a nap configuration out of range) do not panic: NewServer logs the error and
// Serve returns it without serving.
func NewServer(opts ...ServerOption) *Server {
	s := &Server{
		methods:   map[string]*methodEntry{},
		bare:      map[string]*methodEntry{},
		services:  map[string]*ServiceDesc{},
		listeners: map[*nap.Listener]struct{}{},
		sessions:  map[*nap.Session]*connState{},
		stopping:  make(chan struct{}),
	}
	s.opts.maxConnReplyBytes = DefaultMaxConnReplyBytes
	s.opts.maxServerReplyBytes = DefaultMaxServerReplyBytes
	s.opts.maxServerCalls = DefaultMaxServerCalls
	s.opts.requestTimeout = DefaultRequestTimeout
	for _, o := range opts {
		if o != nil {
			o.applyServer(&s.opts)
		}
	}
	s.replies.init(s.opts.maxServerReplyBytes)
	s.tls, s.optErr = s.opts.tls, s.opts.check()
	if s.optErr == nil {
		s.optErr = nap.VerifyConfig(&s.opts.nap)
	}
	if s.opts.idleCallWorkers > 0 {
		s.work = make(chan streamWork, workQueueSize)
		s.quit = make(chan struct{})
		s.spawn = s.worker
	}
	s.unaryInt = chainUnaryServer(s.opts.unaryInts)
	s.streamInt = chainStreamServer(s.opts.streamInts)
	s.logger = s.opts.logger
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.optErr != nil {
		s.logger.Error("dora: NewServer: Serve will refuse to serve", slog.Any("error", s.optErr))
	}
	return s
}

// RegisterService registers impl, which must implement desc.HandlerType, to serve desc.
// Methods become callable as "/<desc.ServiceName>/<Method>", and by the bare name "<Method>"
// for legacy clients when exactly one registered service has a method of that name.
// RegisterService panics (programming errors) when called after Serve, when the service is
// already registered, or when impl does not implement the service's interface.
func (s *Server) RegisterService(desc *ServiceDesc, impl any) {
	if desc.HandlerType != nil {
		ht := reflect.TypeOf(desc.HandlerType).Elem()
		if it := reflect.TypeOf(impl); it == nil || !it.Implements(ht) {
			panic(fmt.Sprintf("dora: RegisterService(%s): %T does not implement %v", desc.ServiceName, impl, ht))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.serving {
		panic(fmt.Sprintf("dora: RegisterService(%s) after Serve", desc.ServiceName))
	}
	if _, dup := s.services[desc.ServiceName]; dup {
		panic(fmt.Sprintf("dora: RegisterService(%s): service already registered", desc.ServiceName))
	}
	s.services[desc.ServiceName] = desc
	add := func(name string, e *methodEntry) {
		s.methods[e.full] = e
		if _, seen := s.bare[name]; seen {
			s.bare[name] = nil // ambiguous
		} else {
			s.bare[name] = e
		}
	}
	for i := range desc.Methods {
		m := &desc.Methods[i]
		add(m.MethodName, &methodEntry{full: "/" + desc.ServiceName + "/" + m.MethodName, impl: impl, unary: m})
	}
	for i := range desc.Streams {
		m := &desc.Streams[i]
		add(m.StreamName, &methodEntry{full: "/" + desc.ServiceName + "/" + m.StreamName, impl: impl, stream: m})
	}
}

// ServiceInfo describes a registered service (see Server.Services).
type ServiceInfo struct {
	// Name is the fully qualified service name.
	Name string
	// Methods are the full method names ("/pkg.Svc/Method").
	Methods []string
	// Metadata is the ServiceDesc's Metadata (the .proto file).
	Metadata string
}

// Services returns the registered services, in no particular order.
func (s *Server) Services() []ServiceInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ServiceInfo, 0, len(s.services))
	for _, d := range s.services {
		si := ServiceInfo{Name: d.ServiceName, Metadata: d.Metadata}
		for _, m := range d.Methods {
			si.Methods = append(si.Methods, "/"+d.ServiceName+"/"+m.MethodName)
		}
		for _, m := range d.Streams {
			si.Methods = append(si.Methods, "/"+d.ServiceName+"/"+m.StreamName)
		}
		out = append(out, si)
	}
	return out
}

// lookup resolves a method name from the wire: a full name, or a bare name that exactly one
// service has. Full names are tried first.
func (s *Server) lookup(method []byte) *methodEntry {
	if e := s.methods[string(method)]; e != nil {
		return e
	}
	if len(method) > 0 && method[0] != '/' {
		if bytes.IndexByte(method, '/') < 0 {
			return s.bare[string(method)]
		}
	}
	return nil
}

// Serve accepts connections on lis and serves them until lis fails or the server stops;
// with WithTLS, lis is wrapped with tls.NewListener. Serve returns nil after Stop or
// GracefulStop, ErrServerStopped when called after them, an error wrapping ErrNapConfigTLS
// at once when WithNapConfig was given a TLSConfig (nothing is served, plain TCP least of
// all), one wrapping nap.ErrInvalidConfig at once when the nap configuration (WithNapConfig,
// MaxRecvMsgSize, MaxConcurrentCalls) is out of range (nap.VerifyConfig), and the accept
// error otherwise. It closes lis when it returns.
//
// Temporary accept errors do not end Serve: running out of descriptors (EMFILE, ENFILE),
// memory or buffers (ENOMEM, ENOBUFS), a connection aborted or broken before it was
// accepted (ECONNABORTED, EPROTO), EAGAIN, EINTR and any error that says it is a timeout
// or temporary are retried after a pause of 5 ms (acceptBackoffMin) doubling up to 1 s
// (acceptBackoffMax), as net/http does. The first error of such a burst is logged at
// Error level and the recovery at Warn level, once each per burst; serving resumes as
// soon as Accept succeeds again. Stop and GracefulStop end the wait at once.
func (s *Server) Serve(lis net.Listener) error {
	if s.optErr != nil {
		lis.Close()
		return fmt.Errorf("dora: serve: %w", s.optErr)
	}
	if s.tls != nil {
		lis = tls.NewListener(lis, s.tls)
	}
	cfg := s.opts.nap
	nl, err := nap.NewListener(lis, &cfg)
	if err != nil { // checked by NewServer already
		lis.Close()
		return fmt.Errorf("dora: serve: %w", err)
	}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		lis.Close()
		return ErrServerStopped
	}
	s.serving = true
	s.listeners[nl] = struct{}{}
	s.mu.Unlock()
	defer s.startReaper()()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, nl)
		s.mu.Unlock()
		nl.Close()
	}()
	var backoff time.Duration // wait before the next Accept; 0 outside a burst of errors
	burst := 0                // temporary errors in the current burst
	for {
		sess, err := nl.Accept()
		if err != nil {
			s.mu.Lock()
			stopped := s.stopped
			s.mu.Unlock()
			if stopped {
				return nil
			}
			if !isTemporaryAcceptErr(err) {
				return fmt.Errorf("dora: serve: %w", err)
			}
			if backoff == 0 {
				backoff = acceptBackoffMin
				s.logger.Error("dora: accept failed; retrying with backoff until it succeeds",
					slog.String("addr", lis.Addr().String()), slog.Any("error", err),
					slog.Duration("first_wait", backoff), slog.Duration("max_wait", acceptBackoffMax))
			} else {
				backoff = min(2*backoff, acceptBackoffMax)
			}
			burst++
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.stopping:
				t.Stop()
				return nil
			}
			continue
		}
		if burst > 0 {
			s.logger.Warn("dora: accept recovered", slog.String("addr", lis.Addr().String()),
				slog.Int("failed_accepts", burst))
			backoff, burst = 0, 0
		}
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			sess.Close()
			return nil
		}
		cs := s.newConnState(sess)
		s.sessions[sess] = cs
		s.sessWG.Add(1)
		s.mu.Unlock()
		go s.serveSession(cs)
	}
}

// serveSession serves the calls of one session. By default (no IdleCallWorkers) the
// goroutine that accepts a stream is the one that runs its call: it first starts the
// session's next acceptor, then serves the call (acceptCall). There is no hand-off from an
// accept loop to a call goroutine, and starting the next acceptor allocates nothing (a go
// statement with arguments would allocate a closure per call). With IdleCallWorkers one
// loop accepts every stream and hands it to a worker.
func (s *Server) serveSession(cs *connState) {
	if s.work == nil {
		cs.accept = func() { s.acceptCall(cs) }
		s.acceptCall(cs)
		return
	}
	defer s.endSession(cs)
	ctx := context.Background()
	for {
		st, err := cs.sess.AcceptStream(ctx)
		if err != nil {
			return
		}
		if !s.admitCall(cs.sess) {
			st.Reset(nap.CodeRefusedStream) // retryable: no handler saw it
			continue
		}
		s.callWG.Add(1)
		s.dispatchWorker(streamWork{cs, st})
	}
}

// acceptCall is one acceptor of cs's session (see serveSession): it waits for the next
// stream, starts the next acceptor and serves the call on its own goroutine. At any time
// exactly one goroutine of the session waits in AcceptStream; the one that sees the
// session end ends it. Every call is counted in callWG before its successor can end the
// session, so Stop, which waits for sessWG before callWG, waits for every call.
func (s *Server) acceptCall(cs *connState) {
	for {
		st, err := cs.sess.AcceptStream(context.Background())
		if err != nil {
			s.endSession(cs)
			return
		}
		if !s.admitCall(cs.sess) {
			st.Reset(nap.CodeRefusedStream) // retryable: no handler saw it
			continue
		}
		s.callWG.Add(1)
		go cs.accept()
		s.handleStream(cs, st)
		return
	}
}

// endSession closes a session whose streams are no longer accepted and forgets it.
func (s *Server) endSession(cs *connState) {
	cs.sess.Close()
	s.mu.Lock()
	delete(s.sessions, cs.sess)
	s.mu.Unlock()
	s.sessWG.Done()
}

// admitCall counts a new call against MaxServerCalls; it reports false (and logs, once
// per burst) when the server already runs that many. endCall undoes it.
func (s *Server) admitCall(sess *nap.Session) bool {
	if s.calls.Add(1) > int64(s.opts.maxServerCalls) {
		s.calls.Add(-1)
		if s.refusing.CompareAndSwap(false, true) {
			s.logger.Warn("dora: refusing new calls: the server runs MaxServerCalls calls",
				slog.Int("max_server_calls", s.opts.maxServerCalls), slog.String("remote", sess.RemoteAddr().String()))
		}
		return false
	}
	if s.refusing.Load() {
		s.refusing.Store(false)
	}
	return true
}

func (s *Server) endCall() { s.calls.Add(-1) }

// Stop closes every listener and connection now: calls in flight see their context
// cancelled and their clients fail with Unavailable. Stop then waits for running handlers
// to return (handlers must honour their context). Calling it again does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	s.stopped = true
	s.stoppingOnce.Do(func() { close(s.stopping) })
	for l := range s.listeners {
		l.Close()
	}
	sessions := make([]*nap.Session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	for _, sess := range sessions {
		sess.Close()
	}
	s.sessWG.Wait()
	s.callWG.Wait()
	s.stopWorkers()
}

// GracefulStop stops accepting connections and calls (clients see GOAWAY and move new calls
// elsewhere), lets calls in flight finish, then closes. When ctx ends first it falls back
// to Stop and returns ctx's error; otherwise nil.
func (s *Server) GracefulStop(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	s.draining = true
	s.stoppingOnce.Do(func() { close(s.stopping) })
	for l := range s.listeners {
		l.Close()
	}
	sessions := make([]*nap.Session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	var forced atomic.Bool // a session was closed before its calls finished
	for _, sess := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if sess.Shutdown(ctx) != nil {
				forced.Store(true)
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		s.sessWG.Wait()
		s.callWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.stopWorkers()
		if forced.Load() {
			return ctx.Err()
		}
		return nil
	case <-ctx.Done():
		s.Stop()
		<-done
		return ctx.Err()
	}
}
