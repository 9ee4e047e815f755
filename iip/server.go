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

// ServerOptions configures a Server. The zero value of every field means
// its default; a nil *ServerOptions means all defaults.
type ServerOptions struct {
	// MaxConns limits simultaneous connections. At the limit, the
	// connection idle for longest (no request in flight, no frame for at
	// least a second) is closed to make room; when there is none, the
	// new connection's first request is answered with error 107 and it is
	// closed. Default DefaultMaxConns.
	MaxConns int
	// MaxChannels limits channels per connection (channel 0 not counted);
	// one more /sys/new_channel is answered with error 106. Default
	// DefaultMaxChannels.
	MaxChannels int
	// MaxMessageSize bounds an assembled request; a larger one is read to
	// its end, discarded and answered with error 104. Streaming handlers
	// are not bounded by it. Default DefaultMaxMessageSize.
	MaxMessageSize int
	// TLSConfig, when set, makes Serve speak TLS. For mutual TLS set
	// ClientAuth to tls.RequireAndVerifyClientCert and ClientCAs.
	TLSConfig *tls.Config
	// Logger receives connection-level problems and handler panics.
	// Default slog.Default().
	Logger *slog.Logger
	// ReadBufferSize is the per-connection read buffer. Request data from
	// 1/16 to 1/2 of it is handed to handlers without a copy, as slices of
	// the buffer; a new buffer is allocated when one is used up. Default
	// DefaultReadBufferSize.
	ReadBufferSize int
	// StreamQueue is how many chunks a streaming handler may lag behind.
	// Default DefaultStreamQueue.
	StreamQueue int
	// DisableCaps makes the server accept no capability, behaving exactly
	// like an existing IIP server (plain JSON errors, no keepalive).
	DisableCaps bool
	// RecycleRequestData lets the server reuse the memory of Request.Data
	// (of requests that arrive in one frame) once the response is written,
	// which saves an allocation and its garbage collection per request. A
	// handler may then use Data, and return it or a slice of it as the
	// response, but must not keep it or let anything use it after the
	// response is written. Default false: Data belongs to the handler.
	// Streaming handlers are not affected.
	RecycleRequestData bool
	// HandlerTimeout, when positive, puts a deadline on every handler's
	// context; a handler that returns an error wrapping
	// context.DeadlineExceeded is answered with error 103 (request
	// timeout). Default 0: no deadline.
	HandlerTimeout time.Duration
	// WriteTimeout bounds the write of each response frame (at most
	// 16 MiB): a peer that does not read its responses within it loses its
	// connection, with a log line, and the handlers waiting to answer on
	// it are released. Default DefaultWriteTimeout (30 s); negative
	// disables it.
	WriteTimeout time.Duration
	// HandshakeTimeout bounds the TLS handshake and the arrival of the
	// connection's first frame, together, from the moment the connection
	// is accepted; a connection that has not sent a whole frame by then is
	// closed. Default DefaultHandshakeTimeout (10 s).
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection that has no request in flight and
	// has not sent a frame for this long (our client's keepalive pings
	// every 15 s). Default DefaultIdleTimeout (5 min); negative disables.
	IdleTimeout time.Duration
	// FrameTimeout bounds the arrival of one frame (header and up to
	// 16 MiB of data) once its first byte has arrived, so that a peer
	// trickling bytes is closed. Default DefaultFrameTimeout (30 s);
	// negative disables.
	FrameTimeout time.Duration
	// MaxConnHandlers bounds the handlers running at once for one
	// connection (a channel runs one at a time). At the limit, the
	// connection's reader waits for one to finish before it reads on,
	// except while stream requests are still arriving on the connection
	// (their handlers wait for chunks only that reader delivers).
	// Default DefaultMaxConnHandlers (64).
	MaxConnHandlers int
	// MaxHandlers bounds the handlers running at once in the server; at
	// the limit, readers wait as for MaxConnHandlers. Default
	// DefaultMaxHandlers (1024).
	MaxHandlers int
	// MaxConnBufferedBytes bounds the request bytes one connection makes
	// the server hold: requests still arriving, queued, or being
	// answered (each request counts its data plus 1 KiB). A frame that
	// does not fit waits for room, at most FrameTimeout; a request that
	// cannot fit (its incomplete messages alone would pass the limit) or
	// still does not fit then is read and discarded, and answered with
	// error 104; the connection stays up. Default
	// DefaultMaxConnBufferedBytes (80 MiB), raised to MaxMessageSize +
	// 16 MiB when below it.
	MaxConnBufferedBytes int
	// MaxBufferedBytes bounds the request bytes all connections make the
	// server hold, with the same rules; when a request still does not fit
	// after 100 ms, the connection holding the most (when another than its
	// own, holding more) is closed to make room. Raise it on a server that
	// takes several messages near MaxMessageSize at once: two 64 MiB
	// uploads do not fit the default together. Default
	// DefaultMaxBufferedBytes (96 MiB), raised to MaxConnBufferedBytes
	// when below it.
	MaxBufferedBytes int
	// MaxConnWriteBytes bounds the response bytes queued for writing to
	// one connection: while more are queued, no new handler starts for it
	// (a handler is counted from its start with the size of its path's
	// recent responses). Default DefaultMaxConnWriteBytes (16 MiB).
	MaxConnWriteBytes int
	// MaxWriteBytes bounds the response bytes queued for all connections
	// the same way. Default DefaultMaxWriteBytes (32 MiB).
	MaxWriteBytes int
	// MaxChannelQueue bounds the requests waiting on one channel behind
	// the one being answered (pipelined requests). When a channel has that
	// many, the connection's reader stops reading (the peer's writes then
	// block in TCP) until the channel's handler catches up. Default
	// DefaultMaxChannelQueue (64).
	MaxChannelQueue int
	// SocketReadBuffer is the receive buffer (SO_RCVBUF) of each accepted
	// connection, set by Serve before the TLS handshake when positive.
	// Default 0: the system's (autotuned) for clients that offer our
	// capabilities (ours), and DefaultSocketReadBuffer (64 KiB), set when
	// the connection's first request shows it comes from any other client
	// (a first request that is not a /sys/new_channel offering caps).
	// Deployed IIP clients send with 16 KiB socket buffers and drop a
	// connection whose frame write takes 3 s; on loopback an autotuned
	// receiver makes their uploads of 16 MiB and more miss that deadline,
	// and 64 KiB does not (see BENCHMARKS.md). Negative: always the
	// system's.
	SocketReadBuffer int
	// SocketWriteBuffer is the send buffer (SO_SNDBUF) of each accepted
	// connection, set by Serve. Default 0: the system's (autotuned).
	SocketWriteBuffer int
	// FrameSize is the largest frame data this server sends to a client
	// that negotiated the "frame-size" capability: the smaller of it and
	// the client's offer is agreed (at least MinFrameSize), and responses
	// are split into frames of that size so that they interleave with the
	// connection's other responses. Default DefaultFrameSize (32 KiB);
	// valid: MinFrameSize to MaxFrameData, else Serve returns
	// ErrInvalidOptions; negative: the capability is refused (frames of up
	// to 16 MiB).
	FrameSize int
	// Window is how many bytes of frames of messages of several frames
	// (large requests) a client that negotiated the "window" capability
	// may send on a connection ahead of what the server has read; the
	// server acknowledges what it reads on the control channel. It bounds
	// what is queued in the sockets ahead of a small request, at some cost
	// in bulk throughput. Default DefaultWindow (64 KiB); the server
	// answers at least twice the agreed frame size; an explicit value below
	// twice FrameSize is an error (ErrInvalidOptions, from Serve);
	// negative: the capability is refused.
	Window int
	// ListenControl, when set, is net.ListenConfig's Control for
	// ListenAndServe: it is called with the listening socket before it is
	// bound, to set further socket options (accepted sockets inherit most
	// of them). An error fails ListenAndServe. Default nil.
	ListenControl func(network, address string, c syscall.RawConn) error
}

func (o *ServerOptions) withDefaults() ServerOptions {
	var v ServerOptions
	if o != nil {
		v = *o
	}
	if v.MaxConns <= 0 {
		v.MaxConns = DefaultMaxConns
	}
	if v.MaxChannels <= 0 {
		v.MaxChannels = DefaultMaxChannels
	}
	if v.MaxMessageSize <= 0 {
		v.MaxMessageSize = DefaultMaxMessageSize
	}
	if v.Logger == nil {
		v.Logger = slog.Default()
	}
	if v.ReadBufferSize <= 0 {
		v.ReadBufferSize = DefaultReadBufferSize
	}
	if v.StreamQueue <= 0 {
		v.StreamQueue = DefaultStreamQueue
	}
	if v.WriteTimeout == 0 {
		v.WriteTimeout = DefaultWriteTimeout
	}
	if v.HandshakeTimeout <= 0 {
		v.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if v.IdleTimeout == 0 {
		v.IdleTimeout = DefaultIdleTimeout
	}
	if v.FrameTimeout == 0 {
		v.FrameTimeout = DefaultFrameTimeout
	}
	if v.MaxConnHandlers <= 0 {
		v.MaxConnHandlers = DefaultMaxConnHandlers
	}
	if v.MaxHandlers <= 0 {
		v.MaxHandlers = DefaultMaxHandlers
	}
	if v.MaxConnBufferedBytes <= 0 {
		v.MaxConnBufferedBytes = DefaultMaxConnBufferedBytes
	}
	v.MaxConnBufferedBytes = max(v.MaxConnBufferedBytes, v.MaxMessageSize+MaxFrameData)
	if v.MaxBufferedBytes <= 0 {
		v.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	v.MaxBufferedBytes = max(v.MaxBufferedBytes, v.MaxConnBufferedBytes)
	if v.MaxConnWriteBytes <= 0 {
		v.MaxConnWriteBytes = DefaultMaxConnWriteBytes
	}
	if v.MaxWriteBytes <= 0 {
		v.MaxWriteBytes = DefaultMaxWriteBytes
	}
	if v.MaxChannelQueue <= 0 {
		v.MaxChannelQueue = DefaultMaxChannelQueue
	}
	if v.FrameSize == 0 {
		v.FrameSize = DefaultFrameSize
	}
	if v.Window == 0 {
		v.Window = DefaultWindow
	}
	return v
}

// VerifyServerOptions reports the first field of o out of its documented
// range, wrapped in ErrInvalidOptions; nil o (the defaults) is valid.
// Server.Serve returns its error: nothing is clamped.
func VerifyServerOptions(o *ServerOptions) error {
	if o == nil {
		return nil
	}
	return verifyFrames(o.FrameSize, o.Window)
}

// Server serves IIP. Register handlers before or while serving; a Server
// may serve several listeners. Use NewServer to create one. Handlers run
// on worker goroutines that the server keeps (up to 128 idle ones) until
// Shutdown or Close, so call one of them when done with a Server.
type Server struct {
	optsErr error // VerifyServerOptions' verdict, returned by Serve
	opts    ServerOptions
	log     *slog.Logger
	start   time.Time

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

	// Idle workers wait on work for a channel to run; see serverConn.dispatch.
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
	// Server-wide budgets: request bytes held, response bytes queued,
	// handlers running (see ServerOptions).
	inBytes, outBytes, handlers *budget

	// reclaimIdle is how long a connection must have been idle to be
	// closed for a newcomer at MaxConns (reclaimMinIdle; tests lower it).
	reclaimIdle time.Duration
}

// reclaimMinIdle is the least idle time of a connection closed to make
// room for a new one at MaxConns: connections busy within the last second
// are never taken.
const reclaimMinIdle = time.Second

// NewServer returns a Server with the given options (nil means defaults).
func NewServer(opts *ServerOptions) *Server {
	o := opts.withDefaults()
	s := &Server{
		optsErr:     VerifyServerOptions(opts),
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
	return s
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

// HandleStream registers a streaming handler for the exact path; it is
// called as soon as the first frame of a request arrives and reads the
// data chunk by chunk. See Handle.
func (s *Server) HandleStream(path string, f StreamHandlerFunc) {
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
	lc := net.ListenConfig{Control: s.opts.ListenControl}
	l, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return fmt.Errorf("iip: listen %s: %w", addr, err)
	}
	return s.Serve(l)
}

// Serve accepts connections on l until Shutdown or Close, then returns
// ErrServerClosed. Serve closes l. With TLSConfig set, connections speak TLS.
// Accept errors that pass (out of descriptors: EMFILE, ENFILE; aborted
// connections; timeouts and other temporary errors) are retried with a
// backoff of 5 ms doubling to 1 s and logged once per burst; any other
// error closes l and is returned.
func (s *Server) Serve(l net.Listener) error {
	if s.optsErr != nil {
		_ = l.Close()
		return s.optsErr
	}
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
	_, _ = w.writeMessage(context.Background(), StatusResponseFirst, path, h.Channel, -1, false, marshalError(&Error{Code: CodeServerConnLimit, Message: fmt.Sprintf("server connection limit %d reached", s.opts.MaxConns)}))
	_, _ = w.writeFrame(context.Background(), StatusClose, "", 0, -1, -1, []byte(emptyData), false)
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

// Addrs returns the addresses the server is listening on.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []net.Addr
	for l := range s.listeners {
		out = append(out, l.Addr())
	}
	return out
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

// ConnStats returns a snapshot of every connection and its channels.
func (s *Server) ConnStats() []ConnStats {
	s.mu.Lock()
	conns := make([]*serverConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	out := make([]ConnStats, 0, len(conns))
	for _, c := range conns {
		out = append(out, c.stats())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
