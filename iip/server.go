package iip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Server serves IIP. Register handlers before or while serving; a Server
// may serve several listeners. Use NewServer to create one. Handlers run
// on worker goroutines that the server keeps (up to 128 idle ones) until
// Shutdown or Close, so call one of them when done with a Server.
type Server struct {
	opts  serverOptions
	log   *slog.Logger
	start time.Time

	routes atomic.Pointer[map[string]*route]
	muxMu  sync.Mutex // serialises route registration

	total *pathStats

	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*serverConn]struct{}
	nextConn  uint64
	closed    bool
	wg        sync.WaitGroup // accept loops, connection readers and workers

	// Idle workers wait on work for a channel to run (WithIdleWorkers); see
	// serverConn.dispatch and Server.runChannel.
	work        chan workItem
	idleWorkers atomic.Int32
	stopWorkers chan struct{} // closed once no connection is left: idle workers end
	stopOnce    sync.Once

	// testHookHeader, set by tests before serving, sees every frame
	// header a connection reads.
	testHookHeader func(frameHeader)
	// testHookDraining, set by tests before serving, is called once
	// Shutdown has told a connection to stop reading.
	testHookDraining func()
	// testHookWriteWait, set by tests before serving, is called when a
	// handler waits for room in the write budgets.
	testHookWriteWait func()
	// testHookQueueFull, set by tests before serving, is called when a
	// reader stops reading because a channel's queue is full.
	testHookQueueFull func()
	// testHookWorkerReused, set by tests before serving, is called when an
	// idle worker takes a channel's queue (WithIdleWorkers).
	testHookWorkerReused func()
	// Server-wide budgets: request bytes held, response bytes queued,
	// handlers running (see Limits.MaxBufferedBytes, MaxWriteBytes and
	// MaxHandlers).
	inBytes, outBytes, handlers *budget

	// reclaimIdle is how long a connection must have been idle to be
	// closed for a newcomer at MaxConns (reclaimMinIdle; tests lower it).
	reclaimIdle time.Duration
}

// reclaimMinIdle is the least idle time of a connection closed to make
// room for a new one at MaxConns: connections busy within the last second
// are never taken.
const reclaimMinIdle = time.Second

// NewServer returns a Server configured by opts (none: all defaults; see
// Option and ServerOption). A setting out of its documented range, or
// settings that do not fit together (Limits.MaxConnBufferedBytes), is an error
// wrapping ErrInvalidConfig, and no Server.
func NewServer(opts ...ServerOption) (*Server, error) {
	o, err := newServerOptions(opts)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:        o,
		log:         o.Logger,
		start:       time.Now(),
		total:       newPathStats("*"),
		listeners:   map[net.Listener]struct{}{},
		conns:       map[*serverConn]struct{}{},
		work:        make(chan workItem),
		stopWorkers: make(chan struct{}),
		reclaimIdle: reclaimMinIdle,
		inBytes:     newBudget(int64(o.MaxBufferedBytes)),
		outBytes:    newBudget(int64(o.MaxWriteBytes)),
		handlers:    newBudget(int64(o.MaxHandlers)),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	m := map[string]*route{}
	s.routes.Store(&m)
	return s, nil
}

// Handle registers h for the exact path (no query string). Registering a
// path twice replaces the handler; paths under /sys/ are reserved and
// registering one panics, as does an invalid path.
func (s *Server) Handle(path string, h Handler) {
	s.addRoute(&route{path: path, h: h})
}

// HandleFunc registers f for the exact path; see Handle.
func (s *Server) HandleFunc(path string, f func(ctx context.Context, req *Request) ([]byte, error)) {
	s.addRoute(&route{path: path, h: HandlerFunc(f)})
}

// HandleStream registers a streaming handler f for the exact path (see
// Handle): f is called as soon as the first frame of a request arrives and
// reads the data chunk by chunk with req.Next. The returned data and error
// are treated as a Handler's. f should read until io.EOF; chunks it leaves
// unread are discarded after it returns.
func (s *Server) HandleStream(path string, f func(ctx context.Context, req *StreamRequest) ([]byte, error)) {
	s.addRoute(&route{path: path, stream: f})
}

func (s *Server) addRoute(r *route) {
	if err := checkPath(r.path); err != nil {
		panic(err)
	}
	if strings.HasPrefix(r.path, sysPrefix) {
		panic(fmt.Sprintf("iip: path %q is reserved", r.path))
	}
	if strings.IndexByte(r.path, '?') >= 0 {
		panic(fmt.Sprintf("iip: path %q has a query string", r.path))
	}
	s.muxMu.Lock()
	defer s.muxMu.Unlock()
	old := *s.routes.Load()
	m := make(map[string]*route, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	if prev, ok := old[r.path]; ok {
		r.stats = prev.stats
	} else {
		r.stats = newPathStats(r.path)
	}
	m[r.path] = r
	s.routes.Store(&m)
}

// lookup finds the route of a raw path (query ignored) without allocating.
func (s *Server) lookup(raw []byte) *route {
	if i := indexQuery(raw); i >= 0 {
		raw = raw[:i]
	}
	return (*s.routes.Load())[string(raw)]
}

func indexQuery(b []byte) int {
	for i, c := range b {
		if c == '?' {
			return i
		}
	}
	return -1
}

// ListenAndServe listens on the TCP address addr and serves it.
func (s *Server) ListenAndServe(addr string) error {
	lc := net.ListenConfig{Control: s.opts.Control}
	l, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return fmt.Errorf("iip: listen %s: %w", addr, err)
	}
	return s.Serve(l)
}

// Serve accepts connections on l until Shutdown or Close, then returns
// ErrServerClosed. Serve closes l. With WithTLS, connections speak TLS.
// Accept errors that pass (out of descriptors: EMFILE, ENFILE; aborted
// connections; timeouts and other temporary errors) are retried with a
// backoff of 5 ms doubling to 1 s and logged once per burst; any other
// error closes l and is returned.
func (s *Server) Serve(l net.Listener) error {
	if s.opts.SocketReadBuffer > 0 || s.opts.SocketWriteBuffer > 0 {
		l = &sizedListener{Listener: l, rcv: s.opts.SocketReadBuffer, snd: s.opts.SocketWriteBuffer}
	}
	if s.opts.TLSConfig != nil {
		l = tls.NewListener(l, s.opts.TLSConfig)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	var tempDelay time.Duration // backoff of the current burst of accept errors
	burst := 0                  // errors in the current burst
	for {
		c, err := l.Accept()
		if err != nil {
			retry := retryAccept(err)
			s.mu.Lock()
			closed := s.closed
			if closed || !retry {
				delete(s.listeners, l)
			}
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			if !retry {
				_ = l.Close()
				return fmt.Errorf("iip: accept: %w", err)
			}
			if burst++; burst == 1 {
				s.log.Warn("iip: accept failed, retrying with backoff", "addr", l.Addr().String(), "err", err)
			}
			if tempDelay == 0 {
				tempDelay = acceptBackoffMin
			} else if tempDelay *= 2; tempDelay > acceptBackoffMax {
				tempDelay = acceptBackoffMax
			}
			t := time.NewTimer(tempDelay)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
			}
			continue
		}
		if burst > 0 {
			s.log.Info("iip: accepting again", "addr", l.Addr().String(), "failed_accepts", burst)
			burst = 0
		}
		tempDelay = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			continue
		}
		if len(s.conns) >= s.opts.MaxConns && !s.reclaimLocked() {
			s.wg.Add(1)
			s.mu.Unlock()
			go s.reject(c)
			continue
		}
		s.nextConn++
		sc := newServerConn(s, c, s.nextConn)
		s.conns[sc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go sc.serve()
	}
}

// Backoff between failed accepts, as net/http does: the first retry waits
// acceptBackoffMin, each next one twice as long, at most acceptBackoffMax.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// retryAccept reports whether an Accept error is worth retrying: running
// out of descriptors (EMFILE, ENFILE) or kernel memory, a connection
// aborted before it was accepted, and any timeout or temporary error. A
// closed listener and anything else end Serve.
func retryAccept(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return false
	}
	switch {
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ENOBUFS), errors.Is(err, syscall.ENOMEM),
		errors.Is(err, syscall.EINTR), errors.Is(err, syscall.EAGAIN):
		return true
	}
	var te interface{ Temporary() bool }
	if errors.As(err, &te) && te.Temporary() {
		return true
	}
	return isTimeout(err)
}

// reclaimLocked closes the connection idle for longest, when one has no
// request in flight and sent no frame for reclaimIdle, to make room for a
// new one. The new one is counted at once and the old one when its reader
// has ended, so the count may pass MaxConns by the connections being
// closed. s.mu is held.
func (s *Server) reclaimLocked() bool {
	var victim *serverConn
	oldest := time.Now().Add(-s.reclaimIdle).UnixNano()
	for c := range s.conns {
		if c.reclaimed || c.inflight.Load() > 0 {
			continue
		}
		if t := c.lastRead.Load(); t <= oldest {
			victim, oldest = c, t
		}
	}
	if victim == nil {
		return false
	}
	victim.reclaimed = true
	idle := time.Since(time.Unix(0, oldest)).Round(time.Millisecond)
	// closeFor takes no server lock: calling it under s.mu is safe.
	victim.closeFor(fmt.Errorf("idle for %v, its slot is reclaimed for a new connection (MaxConns %d)", idle, s.opts.MaxConns))
	return true
}

// evictHog closes the connection that holds the most of the server's
// buffer budget, when that is not c, holds at least n bytes and more than
// c (a connection is only closed for one that holds less). Its requests
// are answered or dropped and its bytes given back as it ends.
func (s *Server) evictHog(c *serverConn, n int64) {
	var hog *serverConn
	most := max(n, c.inBytes.used.Load()+1)
	s.mu.Lock()
	for o := range s.conns {
		if u := o.inBytes.used.Load(); u >= most && !o.evicted {
			hog, most = o, u
		}
	}
	if hog != nil {
		hog.evicted = true
	}
	s.mu.Unlock()
	if hog != nil && hog != c {
		hog.closeFor(fmt.Errorf("it holds the most of the server's buffer budget (%d of %d bytes) and another connection needs room", most, s.opts.MaxBufferedBytes))
	}
}

// rejectTimeout bounds how long a connection over the limit is read.
const rejectTimeout = 5 * time.Second

// reject answers the first request of a connection over MaxConns with
// error 107, sends a close frame and closes the connection.
func (s *Server) reject(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	stop := context.AfterFunc(s.ctx, func() { _ = c.Close() })
	defer stop()
	s.log.Warn("iip: server connection limit reached, rejecting connection", "remote", c.RemoteAddr().String(), "limit", s.opts.MaxConns)
	_ = c.SetDeadline(time.Now().Add(rejectTimeout))
	fr := newFrameReader(c, 4096)
	h, err := fr.readHeader()
	if err != nil || !h.Status.isRequest() {
		return
	}
	path := string(h.Path)
	w := newConnWriter(c, func(error) {})
	_, _ = w.writeMessage(context.Background(), statusResponseFirst, path, h.Channel, -1, false, marshalError(&Error{Code: CodeServerConnLimit, Message: fmt.Sprintf("server connection limit %d reached", s.opts.MaxConns)}))
	_, _ = w.writeFrame(context.Background(), statusClose, "", 0, -1, -1, []byte(emptyData), false)
}

// Shutdown stops accepting connections, stops reading new requests, waits
// for the requests already read to be answered, then closes every
// connection. If ctx ends first, it closes everything as Close does and
// returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	conns := s.stopAccepting()
	done := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Add(1)
			go func() { defer wg.Done(); c.drain() }()
		}
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.endWorkers()
		s.wg.Wait()
		return nil
	case <-ctx.Done():
		s.closeAll()
		<-done
		s.endWorkers()
		s.wg.Wait()
		return ctx.Err()
	}
}

// Close closes the listeners and every connection at once, cancels the
// handlers' contexts and waits for the handlers to return.
func (s *Server) Close() error {
	s.stopAccepting()
	s.closeAll()
	s.endWorkers()
	s.wg.Wait()
	return nil
}

// endWorkers lets the idle workers end; the busy ones end when they are
// done, since no connection is left to give them work.
func (s *Server) endWorkers() {
	s.stopOnce.Do(func() { close(s.stopWorkers) })
}

func (s *Server) stopAccepting() []*serverConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for l := range s.listeners {
		_ = l.Close()
	}
	out := make([]*serverConn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

func (s *Server) closeAll() {
	s.cancel()
	s.mu.Lock()
	for c := range s.conns {
		c.close(nil)
	}
	s.mu.Unlock()
}

func (s *Server) removeConn(c *serverConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Stats returns a snapshot of the server's statistics.
func (s *Server) Stats() ServerStats {
	now := time.Now()
	st := ServerStats{Uptime: now.Sub(s.start), Total: s.total.snapshot(now)}
	for _, r := range *s.routes.Load() {
		st.Paths = append(st.Paths, r.stats.snapshot(now))
	}
	sort.Slice(st.Paths, func(i, j int) bool { return st.Paths[i].Path < st.Paths[j].Path })
	s.mu.Lock()
	st.Connections = len(s.conns)
	for c := range s.conns {
		st.Channels += c.channelCount()
	}
	s.mu.Unlock()
	return st
}

// connStats returns a snapshot of every connection and its channels, the
// answer of /sys/connection_statis.
func (s *Server) connStats() []connStats {
	s.mu.Lock()
	conns := make([]*serverConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	out := make([]connStats, 0, len(conns))
	for _, c := range conns {
		out = append(out, c.stats())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
