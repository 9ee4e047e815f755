package iip

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// errPeerClose ends a connection whose peer sent a close frame.
var errPeerClose = errors.New("iip: peer sent a close frame")

// serverConn is one accepted connection. Its reader goroutine decodes
// frames, assembles requests per channel and queues them on the channel's
// worker; the worker runs handlers one at a time, so responses on a channel
// go out in request order while channels run concurrently.
type serverConn struct {
	s      *Server
	c      net.Conn
	id     uint64
	remote string
	since  time.Time
	w      *connWriter
	ctx    context.Context
	cancel context.CancelFunc

	// reader-only state
	fr       *frameReader
	capsSeen bool
	typed    bool // typed-errors accepted: applies to requests read after the negotiation

	mu       sync.Mutex
	chans    map[uint32]*serverChannel
	nextID   uint32
	caps     []string
	requests atomic.Uint64

	// lastRead is when the last frame started to arrive (Unix ns), the
	// accept time before the first; inflight counts requests queued or
	// being answered. Both tell idle connections (IdleTimeout, slots
	// reclaimed at MaxConns); reclaimed is set under s.mu.
	lastRead   atomic.Int64
	inflight   atomic.Int32
	reclaimed  bool
	handshaken bool // reader-only: a whole frame arrived

	draining  atomic.Bool
	closeOnce sync.Once
	workers   sync.WaitGroup
	done      chan struct{}
}

type serverChannel struct {
	id       uint32
	requests atomic.Uint64

	mu      sync.Mutex
	queue   []*item
	head    int
	running bool
	full    bool          // the reader waits for room in queue
	room    chan struct{} // signalled by the worker when full

	// reader-only
	in       *inbound
	deleting bool
}

// inbound is a request whose first frame arrived and whose last has not.
type inbound struct {
	raw      string
	route    *route
	buf      []byte
	size     int
	tooLarge bool
	stream   *StreamRequest
	quit     chan struct{}
}

type itemKind uint8

const (
	kindHandler itemKind = iota
	kindStream
	kindSys
	kindFixed
	kindDelete
)

type item struct {
	kind     itemKind
	typed    bool
	route    *route
	req      Request
	stream   *StreamRequest
	quit     chan struct{}
	resp     []byte
	err      error
	received time.Time
	buf      *[]byte // recycled buffer of req.Data (RecycleRequestData)
}

var itemPool = sync.Pool{New: func() any { return new(item) }}

func newServerConn(s *Server, c net.Conn, id uint64) *serverConn {
	sc := &serverConn{
		s:      s,
		c:      c,
		id:     id,
		remote: c.RemoteAddr().String(),
		since:  time.Now(),
		chans:  map[uint32]*serverChannel{0: {id: 0}},
		nextID: 1,
		done:   make(chan struct{}),
	}
	sc.lastRead.Store(sc.since.UnixNano())
	sc.ctx, sc.cancel = context.WithCancel(s.ctx)
	sc.w = newConnWriter(c, func(err error) { sc.closeFor(fmt.Errorf("write response: %w", err)) })
	sc.w.timeout = s.opts.WriteTimeout
	sc.fr = newFrameReader(c, s.opts.ReadBufferSize)
	return sc
}

func (c *serverConn) close(error) {
	c.closeOnce.Do(func() {
		c.cancel()
		_ = c.c.Close()
	})
}

func (c *serverConn) serve() {
	defer c.s.wg.Done()
	defer close(c.done)
	err := c.handshake()
	if err == nil {
		err = c.readLoop()
	}
	draining := c.draining.Load()
	switch {
	case draining:
	case errors.Is(err, io.EOF), errors.Is(err, errPeerClose), errors.Is(err, net.ErrClosed), errors.Is(err, context.Canceled):
		c.s.log.Debug("iip: connection closed", "conn", c.id, "remote", c.remote, "reason", err)
	default:
		c.s.log.Warn("iip: closing connection", "conn", c.id, "remote", c.remote, "err", err)
	}
	if !draining {
		c.close(err)
	}
	c.failStreams()
	c.workers.Wait()
	if draining {
		_, _ = c.w.writeFrame(context.Background(), StatusClose, "", 0, -1, []byte(emptyData), false)
		c.close(nil)
	}
	c.s.removeConn(c)
}

// drain stops reading, lets queued requests be answered and closes.
func (c *serverConn) drain() {
	c.draining.Store(true)
	_ = c.c.SetReadDeadline(time.Now())
	<-c.done
}

func (c *serverConn) failStreams() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range c.chans {
		if ch.in != nil && ch.in.stream != nil {
			ch.in.stream.err = fmt.Errorf("%w: request on channel %d incomplete", ErrConnLost, ch.id)
			close(ch.in.stream.chunks)
			ch.in = nil
		}
	}
}

func (c *serverConn) channel(id uint32) *serverChannel {
	c.mu.Lock()
	ch := c.chans[id]
	c.mu.Unlock()
	return ch
}

func (c *serverConn) channelCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.chans) - 1
}

// handshake completes the TLS handshake of a TLS connection within
// HandshakeTimeout.
func (c *serverConn) handshake() error {
	tc, ok := c.c.(*tls.Conn)
	if !ok {
		return nil
	}
	_ = c.c.SetDeadline(c.since.Add(c.s.opts.HandshakeTimeout))
	if err := tc.HandshakeContext(c.ctx); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	_ = c.c.SetWriteDeadline(time.Time{})
	return nil
}

// errIdle ends a connection that stayed idle for IdleTimeout.
var errIdle = errors.New("iip: connection idle")

// awaitFrame waits for the first byte of the next frame, under the
// handshake deadline for the first frame and IdleTimeout for the others
// (re-armed while requests are in flight), then puts the frame under
// FrameTimeout (bounded by the handshake deadline for the first frame).
func (c *serverConn) awaitFrame() error {
	o := &c.s.opts
	hsDeadline := c.since.Add(o.HandshakeTimeout)
	for c.fr.buffered() == 0 {
		var dl time.Time
		switch {
		case !c.handshaken:
			dl = hsDeadline
		case o.IdleTimeout > 0:
			dl = time.Now().Add(o.IdleTimeout)
		}
		_ = c.c.SetReadDeadline(dl)
		if c.draining.Load() { // drain's own deadline may have been overwritten
			return errDraining
		}
		err := c.fr.ensure(1)
		if err == nil {
			break
		}
		if !isTimeout(err) || c.draining.Load() {
			return err
		}
		if !c.handshaken {
			return fmt.Errorf("no frame within the handshake timeout %v", o.HandshakeTimeout)
		}
		if c.inflight.Load() == 0 {
			return fmt.Errorf("%w: no request for %v", errIdle, o.IdleTimeout)
		}
	}
	now := time.Now()
	c.lastRead.Store(now.UnixNano())
	var dl time.Time
	if o.FrameTimeout > 0 {
		dl = now.Add(o.FrameTimeout)
	}
	if !c.handshaken && (dl.IsZero() || hsDeadline.Before(dl)) {
		dl = hsDeadline
	}
	_ = c.c.SetReadDeadline(dl)
	if c.draining.Load() {
		return errDraining
	}
	return nil
}

// rearmFrame gives the frame being read a new FrameTimeout after the
// reader waited for the server (not for the peer).
func (c *serverConn) rearmFrame() {
	if t := c.s.opts.FrameTimeout; t > 0 && c.handshaken {
		_ = c.c.SetReadDeadline(time.Now().Add(t))
		if c.draining.Load() {
			_ = c.c.SetReadDeadline(time.Now())
		}
	}
}

// errDraining ends the reader of a connection being drained by Shutdown.
var errDraining = errors.New("iip: draining")

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (c *serverConn) readLoop() error {
	for {
		if err := c.awaitFrame(); err != nil {
			return err
		}
		if err := c.readFrame(); err != nil {
			if isTimeout(err) && !c.draining.Load() {
				if !c.handshaken {
					return fmt.Errorf("first frame not received within the handshake timeout %v: %w", c.s.opts.HandshakeTimeout, err)
				}
				return fmt.Errorf("frame not received within %v: %w", c.s.opts.FrameTimeout, err)
			}
			return err
		}
		c.handshaken = true
	}
}

// readFrame reads and handles one frame.
func (c *serverConn) readFrame() error {
	h, err := c.fr.readHeader()
	if err != nil {
		return err
	}
	if hook := c.s.testHookHeader; hook != nil {
		hook(h)
	}
	if h.Status == StatusClose {
		return errPeerClose
	}
	if !h.Status.isRequest() {
		return fmt.Errorf("%w: client sent a %s frame on channel %d", ErrProtocol, h.Status, h.Channel)
	}
	ch := c.channel(h.Channel)
	if ch == nil {
		return fmt.Errorf("%w: request for unknown channel %d", ErrProtocol, h.Channel)
	}
	if ch.deleting {
		return fmt.Errorf("%w: request on deleted channel %d", ErrProtocol, h.Channel)
	}
	if h.Status.first() {
		if ch.in != nil {
			return fmt.Errorf("%w: first frame while a request is incomplete on channel %d", ErrProtocol, h.Channel)
		}
		return c.readFirst(ch, h)
	}
	if ch.in == nil {
		return fmt.Errorf("%w: continuation frame without a first frame on channel %d", ErrProtocol, h.Channel)
	}
	return c.readContinuation(ch, h)
}

func (c *serverConn) rawPath(h frameHeader, r *route) string {
	if r != nil && len(h.Path) == len(r.path) {
		return r.path
	}
	return string(h.Path)
}

func (c *serverConn) readFirst(ch *serverChannel, h frameHeader) error {
	r := c.s.lookup(h.Path)
	raw := c.rawPath(h, r)
	complete := h.Status == StatusRequest
	if r != nil && r.stream != nil {
		it := c.newItem(kindStream, ch, raw, r)
		sr := &StreamRequest{
			Path: it.req.Path, RawPath: raw, Query: it.req.Query, Channel: ch.id, RemoteAddr: c.remote,
			chunks: make(chan []byte, c.s.opts.StreamQueue),
		}
		it.stream, it.quit = sr, make(chan struct{})
		in := &inbound{raw: raw, route: r, stream: sr, quit: it.quit}
		if err := c.dispatch(ch, it); err != nil {
			return err
		}
		if err := c.pushChunk(in, h.Length); err != nil {
			return err
		}
		if complete {
			close(sr.chunks)
		} else {
			c.setInbound(ch, in)
		}
		return nil
	}
	if complete && int(h.Length) > c.s.opts.MaxMessageSize {
		if err := c.fr.discard(int(h.Length)); err != nil {
			return err
		}
		it := c.newItem(kindFixed, ch, raw, r)
		it.err = &Error{Code: CodeUnknown, Message: fmt.Sprintf("request of %d bytes exceeds limit %d", h.Length, c.s.opts.MaxMessageSize)}
		return c.dispatch(ch, it)
	}
	if complete {
		if c.s.opts.RecycleRequestData && r != nil {
			// r.stream is nil here: the handler's Data is recycled once
			// the response is written. Only data that fits the read
			// buffer is pooled, and only once it has arrived: a pooled
			// buffer is not taken for bytes a peer merely announced.
			if int(h.Length) <= c.fr.size {
				if err := c.fr.ensure(int(h.Length)); err != nil {
					return unexpected(err)
				}
				pb := getBuf(int(h.Length))
				if err := c.fr.readData(*pb); err != nil {
					putBuf(pb)
					return err
				}
				return c.complete(ch, raw, r, *pb, pb)
			}
		}
		data, err := c.fr.readPayload(int(h.Length))
		if err != nil {
			return err
		}
		return c.complete(ch, raw, r, data, nil)
	}
	in := &inbound{raw: raw, route: r}
	if err := c.accumulate(in, h.Length); err != nil {
		return err
	}
	c.setInbound(ch, in)
	return nil
}

func (c *serverConn) setInbound(ch *serverChannel, in *inbound) {
	c.mu.Lock()
	ch.in = in
	c.mu.Unlock()
}

func (c *serverConn) readContinuation(ch *serverChannel, h frameHeader) error {
	in := ch.in
	last := h.Status == StatusRequestContinueLast
	if in.stream != nil {
		if err := c.pushChunk(in, h.Length); err != nil {
			return err
		}
		if last {
			close(in.stream.chunks)
			c.setInbound(ch, nil)
		}
		return nil
	}
	if err := c.accumulate(in, h.Length); err != nil {
		return err
	}
	if !last {
		return nil
	}
	c.setInbound(ch, nil)
	if in.tooLarge {
		it := c.newItem(kindFixed, ch, in.raw, in.route)
		it.err = &Error{Code: CodeUnknown, Message: fmt.Sprintf("request of %d bytes exceeds limit %d", in.size, c.s.opts.MaxMessageSize)}
		return c.dispatch(ch, it)
	}
	return c.complete(ch, in.raw, in.route, in.buf, nil)
}

// accumulate reads n more bytes of a buffered multi-frame request, or
// discards them once the request is over MaxMessageSize.
func (c *serverConn) accumulate(in *inbound, n uint32) error {
	in.size += int(n)
	if in.tooLarge || in.size > c.s.opts.MaxMessageSize {
		in.tooLarge, in.buf = true, nil
		return c.fr.discard(int(n))
	}
	var err error
	in.buf, err = c.fr.appendData(in.buf, int(n))
	return err
}

// pushChunk reads n bytes and hands them to a streaming handler, waiting
// while the handler lags StreamQueue chunks behind.
func (c *serverConn) pushChunk(in *inbound, n uint32) error {
	data, err := c.fr.readPayload(int(n))
	if err != nil {
		return err
	}
	in.stream.size += int64(n)
	select {
	case in.stream.chunks <- data:
	case <-in.quit: // the handler returned: drop the rest
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
	return nil
}

func (c *serverConn) newItem(kind itemKind, ch *serverChannel, raw string, r *route) *item {
	it := itemPool.Get().(*item)
	it.kind, it.typed, it.route = kind, c.typed, r
	it.req = Request{RawPath: raw, Path: raw, Channel: ch.id, RemoteAddr: c.remote}
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		it.req.Path = raw[:i]
		it.req.Query, _ = url.ParseQuery(raw[i+1:])
	}
	return it
}

// complete queues a fully received request; pb, when not nil, is data's
// recycled buffer, put back once the response is written.
func (c *serverConn) complete(ch *serverChannel, raw string, r *route, data []byte, pb *[]byte) error {
	c.requests.Add(1)
	ch.requests.Add(1)
	if r == nil && strings.HasPrefix(raw, sysPrefix) {
		return c.sysRequest(ch, raw, data)
	}
	it := c.newItem(kindHandler, ch, raw, r)
	it.req.Data, it.buf = data, pb
	it.received = time.Now()
	return c.dispatch(ch, it)
}

// dispatch queues it on ch and has a worker run ch when none does. When
// MaxChannelQueue requests already wait on ch, the reader waits here for
// room first: the socket is not read meanwhile, so a peer that pipelines
// requests without reading the responses is held back by TCP, and closed
// by WriteTimeout. It returns an error only when the connection ends
// while waiting (it is then released).
func (c *serverConn) dispatch(ch *serverChannel, it *item) error {
	ch.mu.Lock()
	for len(ch.queue)-ch.head >= c.s.opts.MaxChannelQueue {
		if ch.room == nil {
			ch.room = make(chan struct{}, 1)
		}
		ch.full = true
		ch.mu.Unlock()
		select {
		case <-ch.room:
		case <-c.ctx.Done():
			c.release(it)
			return fmt.Errorf("iip: connection closed while channel %d was full: %w", ch.id, context.Cause(c.ctx))
		}
		c.rearmFrame()
		ch.mu.Lock()
	}
	if ch.head >= 32 && ch.head*2 >= len(ch.queue) {
		// A queue that never empties would otherwise grow for good.
		n := copy(ch.queue, ch.queue[ch.head:])
		clear(ch.queue[n:])
		ch.queue, ch.head = ch.queue[:n], 0
	}
	c.inflight.Add(1)
	ch.queue = append(ch.queue, it)
	start := !ch.running
	ch.running = true
	ch.mu.Unlock()
	if start {
		c.workers.Add(1)
		c.s.runChannel(c, ch)
	}
	return nil
}

// maxIdleWorkers bounds the workers a Server keeps waiting for work.
const maxIdleWorkers = 128

// workItem is a channel with queued requests, handed to a worker.
type workItem struct {
	c  *serverConn
	ch *serverChannel
}

// runChannel has a worker run ch's queue: an idle one if there is one
// (it keeps the stack it grew and saves starting a goroutine per burst of
// requests), else a new one.
func (s *Server) runChannel(c *serverConn, ch *serverChannel) {
	select {
	case s.work <- workItem{c, ch}:
	default:
		s.wg.Add(1)
		go s.worker(c, ch)
	}
}

// worker runs queues until the server stops; it waits for the next one
// while fewer than maxIdleWorkers others wait, else it ends.
func (s *Server) worker(c *serverConn, ch *serverChannel) {
	defer s.wg.Done()
	for {
		c.run(ch)
		if s.idleWorkers.Add(1) > maxIdleWorkers {
			s.idleWorkers.Add(-1)
			return
		}
		select {
		case w := <-s.work:
			s.idleWorkers.Add(-1)
			c, ch = w.c, w.ch
		case <-s.stopWorkers:
			s.idleWorkers.Add(-1)
			return
		}
	}
}

// run answers ch's queued requests in order until the queue is empty.
func (c *serverConn) run(ch *serverChannel) {
	defer c.workers.Done()
	for {
		ch.mu.Lock()
		if ch.head == len(ch.queue) {
			ch.queue, ch.head, ch.running = ch.queue[:0], 0, false
			ch.mu.Unlock()
			return
		}
		it := ch.queue[ch.head]
		ch.queue[ch.head] = nil
		ch.head++
		if ch.full {
			ch.full = false
			select {
			case ch.room <- struct{}{}:
			default:
			}
		}
		ch.mu.Unlock()
		c.process(ch, it)
	}
}

func (c *serverConn) process(ch *serverChannel, it *item) {
	defer c.inflight.Add(-1)
	var resp []byte
	var err error
	switch it.kind {
	case kindFixed:
		resp, err = it.resp, it.err
	case kindSys:
		resp, err = c.sysAnswer(it)
	case kindDelete:
		c.respond(ch, it, []byte(`{"code":0}`), nil)
		c.mu.Lock()
		delete(c.chans, ch.id)
		c.mu.Unlock()
		c.release(it)
		return
	case kindHandler, kindStream:
		if it.route == nil {
			err = &Error{Code: CodeNoHandler, Message: "no handler for path " + it.req.Path}
			c.s.total.record(time.Now(), time.Since(it.received), true, len(it.req.Data), 0)
			break
		}
		resp, err = c.call(it)
	}
	// Statistics are recorded before the response is written, so a client
	// that has its answer also sees it counted.
	if it.route != nil && (it.kind == kindHandler || it.kind == kindStream) {
		now := time.Now()
		d := now.Sub(it.received)
		in := len(it.req.Data)
		if it.stream != nil {
			in = int(it.stream.size)
		}
		it.route.stats.record(now, d, err != nil, in, len(resp))
		c.s.total.record(now, d, err != nil, in, len(resp))
	}
	c.respond(ch, it, resp, err)
	c.release(it)
}

func (c *serverConn) release(it *item) {
	if it.buf != nil {
		putBuf(it.buf)
	}
	*it = item{}
	itemPool.Put(it)
}

// call runs the handler, turning a panic into a failed request.
func (c *serverConn) call(it *item) (resp []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.s.log.Error("iip: handler panicked", "path", it.req.Path, "conn", c.id, "remote", c.remote, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			resp, err = nil, &Error{Code: CodeHandler, Message: fmt.Sprintf("handler panicked: %v", p)}
		}
	}()
	ctx := c.ctx
	if t := c.s.opts.HandlerTimeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
		defer func() {
			if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
				err = &Error{Code: CodeTimeout, Message: fmt.Sprintf("handler for %s exceeded %v", it.req.Path, t)}
			}
		}()
	}
	if it.kind == kindStream {
		it.received = time.Now()
		defer close(it.quit)
		return it.route.stream(ctx, it.stream)
	}
	return it.route.h.ServeIIP(ctx, &it.req)
}

// respond writes the response of it. Errors toward peers without the
// typed-errors capability are plain JSON bodies; with it, every response
// body starts with a marker byte (0 data, 1 error).
func (c *serverConn) respond(ch *serverChannel, it *item, resp []byte, err error) {
	marker := -1
	switch {
	case err != nil:
		resp = marshalError(toWireError(err))
		if it.typed {
			marker = int(dataMarkerError)
		}
	case it.typed:
		marker = int(dataMarkerOK)
	case len(resp) == 0:
		resp = marshalError(&Error{Code: CodeNoResponse, Message: "handler returned no response for " + it.req.Path})
	}
	if _, err := c.w.writeMessage(context.Background(), StatusResponseFirst, it.req.RawPath, ch.id, marker, resp); err != nil {
		// A response that cannot be written (the peer does not read it
		// within WriteTimeout, or the connection broke) would leave the
		// channel's later responses out of order: the connection ends.
		c.closeFor(fmt.Errorf("write response on channel %d: %w", ch.id, err))
	}
}

// closeFor closes the connection because of a problem found outside the
// reader (the reader logs its own), logging it when it is what closes the
// connection.
func (c *serverConn) closeFor(err error) {
	first := false
	c.closeOnce.Do(func() {
		first = true
		c.cancel()
		_ = c.c.Close()
	})
	if first && !errors.Is(err, net.ErrClosed) {
		c.s.log.Warn("iip: closing connection", "conn", c.id, "remote", c.remote, "err", err)
	}
}

// newChannelRequest is the data of /sys/new_channel; existing clients send {}.
type newChannelRequest struct {
	Caps []string `json:"caps"`
}

type newChannelResponse struct {
	Code      int      `json:"code"`
	ChannelID uint32   `json:"channel_id"`
	Caps      []string `json:"caps,omitempty"`
}

// sysRequest handles /sys/ paths. Channel creation and deletion take
// effect in the reader, so a client that counts ids locally may use a new
// channel before the answer arrives.
func (c *serverConn) sysRequest(ch *serverChannel, raw string, data []byte) error {
	it := c.newItem(kindFixed, ch, raw, nil)
	it.req.Data = data
	switch it.req.Path {
	case PathNewChannel:
		if ch.id != 0 {
			it.err = &Error{Code: CodeUnknown, Message: "new_channel is only served on channel 0"}
			break
		}
		var req newChannelRequest
		hasCaps := strings.Contains(string(data), `"caps"`) && json.Unmarshal(data, &req) == nil
		c.mu.Lock()
		if len(c.chans)-1 >= c.s.opts.MaxChannels {
			c.mu.Unlock()
			it.err = &Error{Code: CodeChannelLimit, Message: fmt.Sprintf("channel limit %d reached", c.s.opts.MaxChannels)}
			break
		}
		id := c.nextID
		c.nextID++
		c.chans[id] = &serverChannel{id: id}
		resp := newChannelResponse{ChannelID: id}
		negotiating := hasCaps && !c.capsSeen
		if negotiating {
			c.capsSeen = true
			if !c.s.opts.DisableCaps {
				for _, cp := range req.Caps {
					if cp == capTypedErrors || cp == capKeepalive {
						c.caps = append(c.caps, cp)
					}
				}
			}
		}
		if hasCaps {
			resp.Caps = append([]string{}, c.caps...)
			if resp.Caps == nil {
				resp.Caps = []string{}
			}
		}
		c.mu.Unlock()
		for _, cp := range resp.Caps {
			if cp == capTypedErrors {
				c.typed = true
			}
		}
		// The negotiating answer itself is plain JSON.
		it.resp, _ = json.Marshal(resp)
		if negotiating {
			it.typed = false
		}
	case PathDeleteChannel:
		if ch.id == 0 {
			it.err = &Error{Code: CodeUnknown, Message: "channel 0 cannot be deleted"}
			break
		}
		ch.deleting = true
		it.kind = kindDelete
	case PathPing:
		it.resp = []byte(`{"code":0}`)
	case PathServerCount, PathServerMeasure, PathPathCount, PathPathMeasure, PathStatis, PathConnectionStatis:
		it.kind = kindSys
	default:
		it.err = &Error{Code: CodeNoHandler, Message: "no handler for path " + it.req.Path}
	}
	return c.dispatch(ch, it)
}

func (c *serverConn) stats() ConnStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs := ConnStats{ID: c.id, Remote: c.remote, Since: c.since, Requests: c.requests.Load(), Caps: append([]string{}, c.caps...)}
	for _, ch := range c.chans {
		ch.mu.Lock()
		p := len(ch.queue) - ch.head
		if ch.running {
			p++
		}
		ch.mu.Unlock()
		cs.Channels = append(cs.Channels, ChannelStats{ID: ch.id, Requests: ch.requests.Load(), Pending: p})
	}
	sort.Slice(cs.Channels, func(i, j int) bool { return cs.Channels[i].ID < cs.Channels[j].ID })
	return cs
}
