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
	"strconv"
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
	typed    bool        // typed-errors accepted: applies to requests read after the negotiation
	sizeHint bool        // size-hint accepted: applies to frames read and responses to requests read after the negotiation
	rwin     *recvWindow // "window" accepted: what is read of the client's flow-controlled frames
	fcRead   uint32      // the flow-controlled bytes of the frame being read, acknowledged once it is
	ackBuf   []byte

	mu         sync.Mutex
	chans      map[uint32]*serverChannel
	nextID     uint32
	caps       []string
	frameSize  int // negotiated with "frame-size"; 0 when not
	window     int // our window, negotiated with "window"; 0 when not
	peerWindow int // the client's window offered with "window"
	requests   atomic.Uint64

	// lastRead is when the last frame started to arrive (Unix ns), the
	// accept time before the first; inflight counts requests queued or
	// being answered. Both tell idle connections (Timeouts.Idle, slots
	// reclaimed at MaxConns); reclaimed is set under s.mu.
	lastRead   atomic.Int64
	inflight   atomic.Int32
	reclaimed  bool
	evicted    bool // under s.mu: closed for holding the most of the buffer budget
	handshaken bool // reader-only: a whole frame arrived
	peerKnown  bool // reader-only: whether the peer offered our capabilities is decided

	// Budgets of this connection (see Limits.MaxConnBufferedBytes); partial and
	// openStreams are reader-only: bytes held by incomplete requests and
	// stream requests still arriving.
	inBytes, outBytes, handlers *budget
	partial                     int64
	openStreams                 int32

	// Capabilities beyond typed errors, reader-only once negotiated:
	// control channel (ping, cancel) and graceful shutdown with goaway.
	control    bool
	goaway     bool
	streamResp bool // "stream-response": streamed responses go out frame by frame

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

	// Cancellation (capability "cancel"): dispatched counts the requests
	// queued on the channel (reader-only; a request's seq is its count
	// before it), cur is the seq of the request being answered while
	// curActive, and ctx is the handler context of the channel, ended by
	// a /sys/cancel of the running request and then replaced.
	dispatched uint64
	cur        uint64
	curActive  bool
	ctx        context.Context
	cancel     context.CancelFunc

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
	held     int64 // of the buffer budgets
	want     int   // the size the first frame announced ("size-hint"), 0: none
	tooLarge bool
	refused  bool // did not fit the buffer budgets: discarded, answered 104
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
	kind      itemKind
	typed     bool
	sizeHint  bool // the response's first frame, when it has several, announces its size
	route     *route
	req       Request
	stream    *StreamRequest
	quit      chan struct{}
	resp      []byte
	err       error
	received  time.Time
	panicked  bool    // the handler panicked (answered 101 to peers without typed errors)
	seq       uint64  // the request's number on its channel, from 0
	streamed  bool    // the client reads streamed responses ("stream-response")
	cancelled bool    // a /sys/cancel arrived while it was queued (under the channel's mu)
	buf       *[]byte // recycled buffer of req.Data (RecycleRequestData)
	held      int64   // of the buffer budgets, given back once answered
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
	sc.inBytes = newBudget(int64(s.opts.MaxConnBufferedBytes))
	sc.outBytes = newBudget(int64(s.opts.MaxConnWriteBytes))
	sc.handlers = newBudget(int64(s.opts.MaxConnHandlers))
	sc.ctx, sc.cancel = context.WithCancel(s.ctx)
	sc.w = newConnWriter(c, func(err error) { sc.closeFor(fmt.Errorf("write response: %w", err)) })
	sc.w.timeout = s.opts.timeouts.Write
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
	case errors.Is(err, errIdle):
		// Housekeeping, not a fault of the peer: no warning.
		c.s.log.Info("iip: closing connection", "conn", c.id, "remote", c.remote, "err", err)
	default:
		c.s.log.Warn("iip: closing connection", "conn", c.id, "remote", c.remote, "err", err)
	}
	if !draining {
		c.close(err)
	}
	var discarded chan struct{}
	if draining && c.goaway {
		discarded = c.goAway()
	}
	c.failStreams()
	c.workers.Wait()
	// What the connection still holds of the server's buffer budget
	// (incomplete requests, chunks a stream handler left) goes back, once
	// nothing reachable from the server points to its buffers.
	c.mu.Lock()
	for _, ch := range c.chans {
		ch.in = nil
	}
	c.mu.Unlock()
	c.fr.buf = nil
	if left := c.inBytes.used.Swap(0); left != 0 {
		c.s.inBytes.release(left)
	}
	if draining {
		_, _ = c.w.writeFrame(context.Background(), statusClose, "", 0, -1, -1, []byte(emptyData), false)
		if discarded != nil {
			// Requests the client wrote before it read the goaway must not
			// meet a closed socket (their writes would fail, not come back
			// as unread): read on until the client closes, a while at most.
			t := time.NewTimer(goAwayLinger)
			select {
			case <-discarded:
			case <-t.C:
			}
			t.Stop()
		}
		c.close(nil)
	}
	if discarded != nil {
		<-discarded
	}
	c.s.removeConn(c)
}

// goAwayLinger bounds how long the server, having sent its close frame
// after a goaway, reads and discards what the client still sends before
// it closes the connection: 1 s (our client closes as soon as it reads the
// close frame).
const goAwayLinger = time.Second

// goAway tells a client that negotiated "goaway", once the reader has
// stopped, how many requests of each channel were read (they will be
// answered; the client resends the others elsewhere), then reads and
// discards whatever the client still sends, so that its writes do not
// block, until the connection is closed. The returned channel is closed
// when the discarding ends.
func (c *serverConn) goAway() chan struct{} {
	read := map[string]uint64{}
	c.mu.Lock()
	for id, ch := range c.chans {
		read[strconv.FormatUint(uint64(id), 10)] = ch.dispatched
	}
	c.mu.Unlock()
	body, _ := json.Marshal(struct {
		Code int               `json:"code"`
		Read map[string]uint64 `json:"read"`
	}{0, read})
	marker := -1
	if c.typed {
		marker = int(dataMarkerOK)
	}
	if win := c.w.win.Load(); win != nil {
		win.disable() // the acknowledgements will not be read
	}
	_, _ = c.w.writeMessage(context.Background(), statusResponseFirst, pathGoAway, controlChannel, marker, false, body)
	_ = c.c.SetReadDeadline(time.Time{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, c.c)
	}()
	return done
}

// drain stops reading, lets queued requests be answered and closes.
func (c *serverConn) drain() {
	c.draining.Store(true)
	_ = c.c.SetReadDeadline(time.Now())
	if hook := c.s.testHookDraining; hook != nil {
		hook()
	}
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
// Timeouts.Handshake.
func (c *serverConn) handshake() error {
	tc, ok := c.c.(*tls.Conn)
	if !ok {
		return nil
	}
	_ = c.c.SetDeadline(c.since.Add(c.s.opts.timeouts.Handshake))
	if err := tc.HandshakeContext(c.ctx); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	_ = c.c.SetWriteDeadline(time.Time{})
	return nil
}

// decidePeer records, once, whether the peer offered our capabilities
// and, when it did not and Config.SocketReadBuffer is 0, gives the
// connection's socket deployedSocketReadBuffer: deployed clients send with
// 16 KiB buffers and a 3 s frame deadline, which an autotuned receiver on
// loopback makes them miss for uploads of 16 MiB and more.
func (c *serverConn) decidePeer(ours bool) {
	c.peerKnown = true
	if ours || c.s.opts.SocketReadBuffer != 0 {
		return
	}
	nc := c.c
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	if err := setSocketBuffers(nc, deployedSocketReadBuffer, 0); err != nil {
		c.s.log.Debug("iip: cannot size the socket of a deployed client", "conn", c.id, "remote", c.remote, "err", err)
	}
}

// errIdle ends a connection that stayed idle for Timeouts.Idle.
var errIdle = errors.New("iip: connection idle")

// awaitFrame waits for the first byte of the next frame, under the
// handshake deadline for the first frame and Timeouts.Idle for the others
// (re-armed while requests are in flight), then puts the frame under
// Timeouts.Frame (bounded by the handshake deadline for the first frame).
func (c *serverConn) awaitFrame() error {
	o := &c.s.opts
	hsDeadline := c.since.Add(o.timeouts.Handshake)
	for c.fr.buffered() == 0 {
		var dl time.Time
		switch {
		case !c.handshaken:
			dl = hsDeadline
		case o.timeouts.Idle > 0:
			dl = time.Now().Add(o.timeouts.Idle)
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
			return fmt.Errorf("no frame within the handshake timeout %v", o.timeouts.Handshake)
		}
		if c.inflight.Load() <= c.openStreams {
			return fmt.Errorf("%w: no request for %v", errIdle, o.timeouts.Idle)
		}
	}
	now := time.Now()
	c.lastRead.Store(now.UnixNano())
	var dl time.Time
	if o.timeouts.Frame > 0 {
		dl = now.Add(o.timeouts.Frame)
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

// rearmFrame gives the frame being read a new Timeouts.Frame after the
// reader waited for the server (not for the peer).
func (c *serverConn) rearmFrame() {
	if t := c.s.opts.timeouts.Frame; t > 0 && c.handshaken {
		_ = c.c.SetReadDeadline(time.Now().Add(t))
		if c.draining.Load() {
			_ = c.c.SetReadDeadline(time.Now())
		}
	}
}

// errDraining ends the reader of a connection being drained by Shutdown.
var errDraining = errors.New("iip: draining")

// isTimeout reports whether err is a net.Error that timed out (a read or
// write deadline passed).
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
					return fmt.Errorf("first frame not received within the handshake timeout %v: %w", c.s.opts.timeouts.Handshake, err)
				}
				return fmt.Errorf("frame not received within %v: %w", c.s.opts.timeouts.Frame, err)
			}
			return err
		}
		c.handshaken = true
		if n := c.fcRead; n > 0 {
			c.fcRead = 0
			if err := c.windowRead(n); err != nil {
				return err
			}
		}
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
	if h.Status == statusClose {
		return errPeerClose
	}
	if !c.peerKnown && (h.Status != statusRequest || h.Channel != 0 || string(h.Path) != pathNewChannel) {
		// Our client's first request offers capabilities on a one-frame
		// /sys/new_channel; anything else comes from another client.
		c.decidePeer(false)
	}
	if !h.Status.isRequest() {
		return fmt.Errorf("%w: client sent a %s frame on channel %d", ErrProtocol, h.Status, h.Channel)
	}
	if c.rwin != nil && flowControlled(h.Status) {
		if err := c.rwin.arrive(h.Length); err != nil {
			return err
		}
		c.fcRead = h.Length
	}
	if h.Channel == controlChannel && c.control {
		return c.readControl(h)
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

// windowRead acknowledges n bytes of flow-controlled frames read, once
// they add up to half our window, with a /sys/window on the control
// channel, written by the reader as ping answers are.
func (c *serverConn) windowRead(n uint32) error {
	ack := c.rwin.consumed(n)
	if ack == 0 {
		return nil
	}
	marker := -1
	if c.typed {
		marker = int(dataMarkerOK)
	}
	c.ackBuf = fmt.Appendf(c.ackBuf[:0], `{"n":%d}`, ack)
	if _, err := c.w.writeMessage(context.Background(), statusResponseFirst, pathWindow, controlChannel, marker, false, c.ackBuf); err != nil {
		return fmt.Errorf("write %s: %w", pathWindow, err)
	}
	return nil
}

// readControl reads and answers a request on the control channel (PROTOCOL.md,
// section 9): one frame of at most maxControlData bytes, /sys/ping answered
// at once by the reader, /sys/cancel never answered.
func (c *serverConn) readControl(h frameHeader) error {
	if h.Status != statusRequest || h.Length > maxControlData {
		return fmt.Errorf("%w: control request %s of %d bytes (one frame of at most %d)", ErrProtocol, h.Status, h.Length, maxControlData)
	}
	path := string(h.Path)
	var data [maxControlData]byte
	d := data[:h.Length]
	if err := c.fr.readData(d); err != nil {
		return err
	}
	switch path {
	case pathPing:
		marker := -1
		if c.typed {
			marker = int(dataMarkerOK)
		}
		if _, err := c.w.writeMessage(context.Background(), statusResponseFirst, pathPing, controlChannel, marker, false, []byte(`{"code":0}`)); err != nil {
			return fmt.Errorf("write ping answer: %w", err)
		}
		return nil
	case pathWindow:
		if c.w.win.Load() == nil {
			break
		}
		n, err := parseWindowUpdate(d)
		if err != nil {
			return err
		}
		return c.w.win.Load().grant(n)
	case pathCancel:
		var req struct {
			Channel *uint32 `json:"channel"`
			Seq     *uint64 `json:"seq"`
		}
		if err := json.Unmarshal(d, &req); err != nil || req.Channel == nil || req.Seq == nil {
			return fmt.Errorf("%w: bad %s data %q", ErrProtocol, pathCancel, truncate(d, 128))
		}
		c.cancelRequest(*req.Channel, *req.Seq)
		return nil
	}
	return fmt.Errorf("%w: unknown control path %q", ErrProtocol, truncate(h.Path, 128))
}

func (c *serverConn) rawPath(h frameHeader, r *route) string {
	if r != nil && len(h.Path) == len(r.path) {
		return r.path
	}
	return string(h.Path)
}

func (c *serverConn) readFirst(ch *serverChannel, h frameHeader) error {
	want := 0 // the size the request announces ("size-hint"), 0: none
	if h.Status == statusRequestFirst && c.sizeHint {
		var err error
		if want, err = c.fr.readSizeHint(&h); err != nil {
			return err
		}
	}
	r := c.s.lookup(h.Path)
	raw := c.rawPath(h, r)
	complete := h.Status == statusRequest
	if r != nil && r.stream != nil {
		it := c.newItem(kindStream, ch, raw, r)
		sr := &StreamRequest{
			Path: it.req.Path, RawPath: raw, Query: it.req.Query, Channel: ch.id, RemoteAddr: c.remote,
			chunks: make(chan []byte, c.s.opts.StreamQueue), release: c.releaseIn,
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
			c.openStreams++
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
	if complete && int(h.Length) > c.fr.size {
		// Large data counts in the budgets as its buffer grows with what
		// arrives, not at the length the peer declared.
		held := int64(requestOverhead)
		ok, err := c.reserveIn(held, 0)
		if err != nil {
			return err
		}
		if ok {
			var data []byte
			data, err = c.fr.appendDataBudget(nil, int(h.Length), 0, false, func(extra int) (bool, error) {
				ok, err := c.reserveIn(int64(extra), c.partial+held)
				if ok {
					held += int64(extra)
				}
				return ok, err
			})
			if err == nil {
				return c.complete(ch, raw, r, data, nil, held)
			}
			if !errors.Is(err, errBudgetFull) {
				return err
			}
			c.releaseIn(held)
			if err := c.fr.discard(int(h.Length) - len(data)); err != nil {
				return err
			}
		} else if err := c.fr.discard(int(h.Length)); err != nil {
			return err
		}
		return c.refuse(ch, raw, r)
	}
	if complete {
		held := int64(h.Length) + requestOverhead
		ok, err := c.reserveIn(held, 0)
		if err != nil {
			return err
		}
		if !ok {
			if err := c.fr.discard(int(h.Length)); err != nil {
				return err
			}
			return c.refuse(ch, raw, r)
		}
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
				return c.complete(ch, raw, r, *pb, pb, held)
			}
		}
		data, err := c.fr.readPayload(int(h.Length))
		if err != nil {
			return err
		}
		return c.complete(ch, raw, r, data, nil, held)
	}
	in := &inbound{raw: raw, route: r, want: want}
	if err := c.accumulate(in, h.Length, true); err != nil {
		return err
	}
	c.setInbound(ch, in)
	return nil
}

// refuse answers a request that did not fit the buffer budgets with
// error 104; its data was discarded.
func (c *serverConn) refuse(ch *serverChannel, raw string, r *route) error {
	it := c.newItem(kindFixed, ch, raw, r)
	it.err = &Error{Code: CodeUnknown, Message: "server busy: the request does not fit the server's buffer budget; retry later"}
	return c.dispatch(ch, it)
}

func (c *serverConn) setInbound(ch *serverChannel, in *inbound) {
	c.mu.Lock()
	ch.in = in
	c.mu.Unlock()
}

func (c *serverConn) readContinuation(ch *serverChannel, h frameHeader) error {
	in := ch.in
	last := h.Status == statusRequestContinueLast
	if in.stream != nil {
		if err := c.pushChunk(in, h.Length); err != nil {
			return err
		}
		if last {
			close(in.stream.chunks)
			c.openStreams--
			c.setInbound(ch, nil)
		}
		return nil
	}
	if err := c.accumulate(in, h.Length, !last); err != nil {
		return err
	}
	if !last {
		return nil
	}
	c.setInbound(ch, nil)
	c.partial -= in.held
	switch {
	case in.tooLarge:
		it := c.newItem(kindFixed, ch, in.raw, in.route)
		it.err = &Error{Code: CodeUnknown, Message: fmt.Sprintf("request of %d bytes exceeds limit %d", in.size, c.s.opts.MaxMessageSize)}
		return c.dispatch(ch, it)
	case in.refused:
		return c.refuse(ch, in.raw, in.route)
	}
	return c.complete(ch, in.raw, in.route, in.buf, nil, in.held)
}

// accumulate reads n more bytes of a buffered multi-frame request, or
// discards them once the request is over MaxMessageSize or did not fit
// the buffer budgets.
func (c *serverConn) accumulate(in *inbound, n uint32, more bool) error {
	in.size += int(n)
	if w := in.want; w > 0 && (in.size > w || !more && in.size != w) {
		return fmt.Errorf("%w: request %s announced %d bytes and carries %d or more", ErrProtocol, in.raw, w, in.size)
	}
	if !in.tooLarge && !in.refused && (in.size > c.s.opts.MaxMessageSize || in.want > c.s.opts.MaxMessageSize) {
		in.tooLarge = true
		c.dropInbound(in)
	}
	if in.tooLarge || in.refused {
		return c.fr.discard(int(n))
	}
	if in.held == 0 {
		ok, err := c.reserveIn(requestOverhead, c.partial)
		if err != nil {
			return err
		}
		if !ok {
			in.refused = true
			return c.fr.discard(int(n))
		}
		in.held += requestOverhead
		c.partial += requestOverhead
	}
	// The request counts in the budgets as its buffer grows.
	before := len(in.buf)
	limit := 0 // the last frame: the request ends here
	if more {
		limit = c.s.opts.MaxMessageSize
	}
	if in.want > 0 {
		limit = in.want // grown once, to the announced size
	}
	buf, err := c.fr.appendDataBudget(in.buf, int(n), limit, in.want > 0, func(extra int) (bool, error) {
		ok, err := c.reserveIn(int64(extra), c.partial)
		if ok {
			in.held += int64(extra)
			c.partial += int64(extra)
		}
		return ok, err
	})
	in.buf = buf
	if errors.Is(err, errBudgetFull) {
		in.refused = true
		c.dropInbound(in)
		return c.fr.discard(int(n) - (len(buf) - before))
	}
	return err
}

// dropInbound gives back what an incomplete request held.
func (c *serverConn) dropInbound(in *inbound) {
	c.partial -= in.held
	c.releaseIn(in.held)
	in.held, in.buf = 0, nil
}

// pushChunk reads n bytes and hands them to a streaming handler, waiting
// while the handler lags StreamQueue chunks behind. The chunk counts in
// the buffer budgets until the handler takes it.
func (c *serverConn) pushChunk(in *inbound, n uint32) error {
	var data []byte
	var err error
	if int(n) > c.fr.size {
		data, err = c.fr.appendDataBudget(nil, int(n), 0, false, func(extra int) (bool, error) {
			return c.reserveIn(int64(extra), 0)
		})
	} else {
		var ok bool
		if ok, err = c.reserveIn(int64(n), 0); err == nil && !ok {
			err = errBudgetFull
		}
		if err == nil {
			data, err = c.fr.readPayload(int(n))
		}
	}
	if errors.Is(err, errBudgetFull) {
		return fmt.Errorf("stream chunk of %d bytes on %s does not fit the server's buffer budget", n, in.raw)
	}
	if err != nil {
		return err
	}
	in.stream.size.Add(int64(n))
	select {
	case <-in.quit: // the handler returned: drop the rest
		c.releaseIn(int64(n))
		return nil
	default:
	}
	select {
	case in.stream.chunks <- data:
	case <-in.quit:
		c.releaseIn(int64(n))
	case <-c.ctx.Done():
		c.releaseIn(int64(n))
		return c.ctx.Err()
	}
	return nil
}

// requestOverhead is what a request counts in the buffer budgets besides
// its data: its queue entry, header and share of a worker.
const requestOverhead = 1 << 10

// reserveIn takes n bytes of the connection's and the server's buffer
// budgets for data about to be read. partial is what the connection's
// incomplete requests hold: when they and n alone pass the connection's
// limit, nothing can make room and it returns false at once. Otherwise it
// waits for room (the connection's own requests being answered, or other
// connections'), at most Timeouts.Frame, and returns false when there is
// still none: the caller then discards the data and answers error 104.
func (c *serverConn) reserveIn(n, partial int64) (bool, error) {
	cb, sb := c.inBytes, c.s.inBytes
	if partial+n > cb.limit {
		return false, nil
	}
	if !cb.fits(n) || !sb.fits(n) {
		if ok, err := c.waitIn(n); !ok || err != nil {
			return false, err
		}
	}
	cb.take(n)
	sb.take(n)
	return true, nil
}

func (c *serverConn) waitIn(n int64) (bool, error) {
	cb, sb := c.inBytes, c.s.inBytes
	var timeout <-chan time.Time
	if t := c.s.opts.timeouts.Frame; t > 0 {
		tm := time.NewTimer(t)
		defer tm.Stop()
		timeout = tm.C
	}
	// The server's budget still full after evictGrace (requests being
	// answered had time to give theirs back): the connection holding the
	// most pays, unless it is this one.
	grace := time.NewTimer(evictGrace)
	defer grace.Stop()
	defer c.rearmFrame()
	for {
		cw, sw := cb.wait(), sb.wait()
		if cb.fits(n) && sb.fits(n) {
			cb.unwait()
			sb.unwait()
			return true, nil
		}
		var err error
		done := false
		select {
		case <-cw:
		case <-sw:
		case <-grace.C:
			if !sb.fits(n) {
				c.s.evictHog(c, n)
			}
		case <-timeout:
			done = true
		case <-c.ctx.Done():
			done, err = true, context.Cause(c.ctx)
		}
		cb.unwait()
		sb.unwait()
		if done {
			return false, err
		}
	}
}

// evictGrace is how long a request waits for room in the server's full
// buffer budget before the connection holding the most is closed.
const evictGrace = 100 * time.Millisecond

// releaseIn gives n bytes back to the buffer budgets.
func (c *serverConn) releaseIn(n int64) {
	c.inBytes.release(n)
	c.s.inBytes.release(n)
}

func (c *serverConn) newItem(kind itemKind, ch *serverChannel, raw string, r *route) *item {
	it := itemPool.Get().(*item)
	it.kind, it.typed, it.route, it.streamed, it.sizeHint = kind, c.typed, r, c.streamResp, c.sizeHint
	it.req = Request{RawPath: raw, Path: raw, Channel: ch.id, RemoteAddr: c.remote}
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		it.req.Path = raw[:i]
		it.req.Query, _ = url.ParseQuery(raw[i+1:])
	}
	return it
}

// complete queues a fully received request; pb, when not nil, is data's
// recycled buffer, put back once the response is written. held is what
// the request holds of the buffer budgets, given back once answered.
func (c *serverConn) complete(ch *serverChannel, raw string, r *route, data []byte, pb *[]byte, held int64) error {
	c.requests.Add(1)
	ch.requests.Add(1)
	if r == nil && strings.HasPrefix(raw, sysPrefix) {
		return c.sysRequest(ch, raw, data, held)
	}
	it := c.newItem(kindHandler, ch, raw, r)
	it.req.Data, it.buf, it.held = data, pb, held
	it.received = time.Now()
	return c.dispatch(ch, it)
}

// dispatch queues it on ch and has a worker run ch when none does. When
// MaxChannelQueue requests already wait on ch, the reader waits here for
// room first: the socket is not read meanwhile, so a peer that pipelines
// requests without reading the responses is held back by TCP, and closed
// by Timeouts.Write. It returns an error only when the connection ends
// while waiting (it is then released).
func (c *serverConn) dispatch(ch *serverChannel, it *item) error {
	ch.mu.Lock()
	for len(ch.queue)-ch.head >= c.s.opts.MaxChannelQueue {
		if ch.room == nil {
			ch.room = make(chan struct{}, 1)
		}
		ch.full = true
		ch.mu.Unlock()
		if hook := c.s.testHookQueueFull; hook != nil {
			hook()
		}
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
	it.seq = ch.dispatched
	ch.dispatched++
	ch.queue = append(ch.queue, it)
	start := !ch.running
	ch.running = true
	ch.mu.Unlock()
	if start {
		if err := c.acquireHandler(); err != nil {
			return err
		}
		c.workers.Add(1)
		c.s.runChannel(c, ch)
	}
	return nil
}

// acquireHandler takes a handler slot of the connection and of the server
// for a channel about to run, waiting (the reader does not read
// meanwhile) while MaxConnHandlers or MaxHandlers are running.
//
// A connection with stream requests still arriving never waits: their
// handlers wait for chunks only this reader can deliver, so waiting for
// them to end could deadlock. It takes its slots anyway (over the limit).
func (c *serverConn) acquireHandler() error {
	cb, sb := c.handlers, c.s.handlers
	if c.openStreams == 0 && (!cb.fits(1) || !sb.fits(1)) {
		if err := waitBoth(c.ctx, cb, sb, 1, 1); err != nil {
			return fmt.Errorf("iip: connection closed while waiting for a handler slot: %w", err)
		}
		c.rearmFrame()
	}
	cb.take(1)
	sb.take(1)
	return nil
}

// waitBoth waits until a fits n and b fits m, or ctx ends.
func waitBoth(ctx context.Context, a, b *budget, n, m int64) error {
	for {
		aw, bw := a.wait(), b.wait()
		ok := a.fits(n) && b.fits(m)
		if !ok {
			select {
			case <-aw:
			case <-bw:
			case <-ctx.Done():
				a.unwait()
				b.unwait()
				return context.Cause(ctx)
			}
		}
		a.unwait()
		b.unwait()
		if ok {
			return nil
		}
	}
}

// admitHandler counts a handler about to start in the write budgets with
// est, its path's expected response size, waiting while the responses
// queued for the connection or the server leave no room for it (est
// counts at most a quarter of a budget in that test, so that a large
// response is not starved).
//
// A handler whose path answers at most smallResponse bytes does not wait
// when what leaves no room is this connection's own responses and its
// writes are moving (a frame written within writeProgressWindow): the
// peer reads, and a small call is not held behind a large response it is
// reading. Room taken by other connections is waited for as above, and so
// is room on a connection whose peer does not read.
func (c *serverConn) admitHandler(est int64) error {
	cb, sb := c.outBytes, c.s.outBytes
	ce, se := min(est, cb.limit/4), min(est, sb.limit/4)
	if (!cb.fits(ce) || !sb.fits(se)) && !c.smallBehindOwn(est, se) {
		if hook := c.s.testHookWriteWait; hook != nil {
			hook()
		}
		if err := waitBoth(c.ctx, cb, sb, ce, se); err != nil {
			return err
		}
	}
	c.takeOut(est)
	return nil
}

// smallBehindOwn reports whether a handler expecting est bytes (se of
// them counted in the server's budget) may start although the budgets are
// full: see admitHandler.
func (c *serverConn) smallBehindOwn(est, se int64) bool {
	if est > smallResponse || !c.w.movedWithin(writeProgressWindow) {
		return false
	}
	others := c.s.outBytes.used.Load() - c.outBytes.used.Load()
	return others+se <= c.s.outBytes.limit
}

// smallResponse and writeProgressWindow: see admitHandler.
const (
	smallResponse       = 64 << 10
	writeProgressWindow = 100 * time.Millisecond
)

// probeWait bounds how long a handler waits for the first response of
// its path to be known (see route.respEst).
const probeWait = time.Second

// probeRoute makes the caller the probe of a route whose response size is
// not known yet, or waits (at most probeWait) until the probe answered.
func (c *serverConn) probeRoute(r *route) (probe bool, err error) {
	if r.known.Load() {
		return false, nil
	}
	if r.probing.CompareAndSwap(false, true) {
		return true, nil
	}
	sb := c.s.outBytes
	t := time.NewTimer(probeWait)
	defer t.Stop()
	for {
		w := sb.wait()
		if r.known.Load() {
			sb.unwait()
			return false, nil
		}
		if r.probing.CompareAndSwap(false, true) {
			sb.unwait()
			return true, nil
		}
		select {
		case <-w:
			sb.unwait()
		case <-t.C:
			sb.unwait()
			return false, nil
		case <-c.ctx.Done():
			sb.unwait()
			return false, context.Cause(c.ctx)
		}
	}
}

// takeOut counts n more response bytes queued for writing (n may be
// negative: an estimate corrected).
func (c *serverConn) takeOut(n int64) {
	switch {
	case n > 0:
		c.outBytes.take(n)
		c.s.outBytes.take(n)
	case n < 0:
		c.outBytes.release(-n)
		c.s.outBytes.release(-n)
	}
}

// workItem is a channel with queued requests, handed to a worker.
type workItem struct {
	c  *serverConn
	ch *serverChannel
}

// runChannel has a worker run ch's queue: an idle one if there is one
// (WithIdleWorkers: it keeps the stack it grew and saves starting a
// goroutine per burst of requests), else a new one.
func (s *Server) runChannel(c *serverConn, ch *serverChannel) {
	select {
	case s.work <- workItem{c, ch}:
	default:
		s.wg.Add(1)
		go s.worker(c, ch)
	}
}

// worker runs queues until the server stops; it waits for the next one
// while fewer than WithIdleWorkers others wait, else it ends.
func (s *Server) worker(c *serverConn, ch *serverChannel) {
	defer s.wg.Done()
	maxIdle := max(s.opts.idleWorkers, 0)
	for {
		c.run(ch)
		// An idle worker must not keep the connection (its buffers and
		// incomplete requests) reachable.
		c, ch = nil, nil
		if int(s.idleWorkers.Add(1)) > maxIdle {
			s.idleWorkers.Add(-1)
			return
		}
		select {
		case w := <-s.work:
			s.idleWorkers.Add(-1)
			c, ch = w.c, w.ch
			if s.testHookWorkerReused != nil {
				s.testHookWorkerReused()
			}
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
			c.handlers.release(1)
			c.s.handlers.release(1)
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
		if ch.ctx == nil || ch.ctx.Err() != nil {
			// One context per channel, replaced only once cancelled: a
			// request costs no context of its own.
			ch.ctx, ch.cancel = context.WithCancel(c.ctx)
		}
		if it.cancelled {
			ch.cancel()
		}
		ch.cur, ch.curActive = it.seq, true
		ch.mu.Unlock()
		c.process(ch, it)
		ch.mu.Lock()
		ch.curActive = false
		ch.mu.Unlock()
	}
}

// cancelRequest ends the handler context of request seq on channel id
// (a /sys/cancel): at once when it is being answered, when it starts if it
// is queued. A request already answered, or unknown, is ignored.
func (c *serverConn) cancelRequest(id uint32, seq uint64) {
	ch := c.channel(id)
	if ch == nil {
		return
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.curActive && ch.cur == seq {
		ch.cancel()
		return
	}
	for _, it := range ch.queue[ch.head:] {
		if it.seq == seq {
			it.cancelled = true
			return
		}
	}
}

// endCtx releases the handler context of a channel that is gone.
func (ch *serverChannel) endCtx() {
	ch.mu.Lock()
	if ch.cancel != nil {
		ch.cancel()
	}
	ch.mu.Unlock()
}

func (c *serverConn) process(ch *serverChannel, it *item) {
	defer c.inflight.Add(-1)
	var resp []byte
	var err error
	var queued int64 // counted in the write budgets before the handler ran
	switch it.kind {
	case kindFixed:
		resp, err = it.resp, it.err
	case kindSys:
		resp, err = c.sysAnswer(it)
	case kindDelete:
		if it.typed {
			// Deployed servers never answer /sys/delete_channel, so a
			// peer without typed errors gets no answer from us either.
			c.respond(ch, it, []byte(`{"code":0}`), nil)
		}
		c.mu.Lock()
		delete(c.chans, ch.id)
		c.mu.Unlock()
		ch.endCtx()
		c.release(it)
		return
	case kindHandler, kindStream:
		if it.route == nil {
			err = &Error{Code: CodeNoHandler, Message: "no handler for path " + it.req.Path}
			c.s.total.record(time.Now(), time.Since(it.received), true, len(it.req.Data), 0)
			break
		}
		if it.route.respStream != nil {
			// Its frames go out as the handler writes them: each write
			// waits for the socket, so the write budgets are not used.
			n, serr := c.serveStreamResponse(ch, it)
			now := time.Now()
			it.route.stats.record(now, now.Sub(it.received), serr != nil, len(it.req.Data), int(n))
			c.s.total.record(now, now.Sub(it.received), serr != nil, len(it.req.Data), int(n))
			c.release(it)
			return
		}
		probe, perr := c.probeRoute(it.route)
		if perr != nil {
			err = fmt.Errorf("%w: %w", ErrConnLost, perr)
			break
		}
		est := it.route.respEst.Load()
		if err = c.admitHandler(est); err != nil {
			if probe {
				it.route.probing.Store(false)
				c.s.outBytes.kick()
			}
			err = fmt.Errorf("%w: %w", ErrConnLost, err)
			break
		}
		queued = est
		resp, err = c.call(ch, it)
		if it.stream != nil {
			c.dropChunks(it.stream)
		}
		n := int64(len(resp))
		if next := max(n, est-est/8); next != est {
			it.route.respEst.Store(next)
		}
		if probe {
			it.route.known.Store(true)
			it.route.probing.Store(false)
			c.s.outBytes.kick()
		}
	}
	// Statistics are recorded before the response is written, so a client
	// that has its answer also sees it counted.
	if it.route != nil && (it.kind == kindHandler || it.kind == kindStream) {
		now := time.Now()
		d := now.Sub(it.received)
		in := len(it.req.Data)
		if it.stream != nil {
			in = int(it.stream.size.Load())
		}
		it.route.stats.record(now, d, err != nil, in, len(resp))
		c.s.total.record(now, d, err != nil, in, len(resp))
	}
	c.takeOut(int64(len(resp)) - queued)
	c.respond(ch, it, resp, err)
	c.takeOut(-int64(len(resp)))
	c.release(it)
}

// dropChunks gives back the budget of the chunks a stream handler left.
func (c *serverConn) dropChunks(sr *StreamRequest) {
	for {
		select {
		case b, ok := <-sr.chunks:
			if !ok {
				return
			}
			c.releaseIn(int64(len(b)))
		default:
			return
		}
	}
}

func (c *serverConn) release(it *item) {
	if it.buf != nil {
		putBuf(it.buf)
	}
	c.releaseIn(it.held)
	*it = item{}
	itemPool.Put(it)
}

// handlerPanicked logs a handler's panic p with its stack, marks it, and returns the error
// its request fails with. Call it from the handler goroutine's deferred recover.
func (c *serverConn) handlerPanicked(it *item, p any) error {
	c.s.log.Error("iip: handler panicked", "path", it.req.Path, "conn", c.id, "remote", c.remote, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	it.panicked = true
	return &Error{Code: CodeHandler, Message: fmt.Sprintf("handler panicked: %v", p)}
}

// handlerContext is the context a handler of ch runs with: the channel's, bounded by
// Timeouts.Handler when it is set; cancel releases it.
func (c *serverConn) handlerContext(ch *serverChannel) (context.Context, context.CancelFunc) {
	ch.mu.Lock()
	ctx := ch.ctx
	ch.mu.Unlock()
	if t := c.s.opts.timeouts.Handler; t > 0 {
		return context.WithTimeout(ctx, t)
	}
	return ctx, func() {}
}

// call runs the handler, turning a panic into a failed request.
func (c *serverConn) call(ch *serverChannel, it *item) (resp []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, c.handlerPanicked(it, p)
		}
	}()
	ctx, cancel := c.handlerContext(ch)
	defer cancel()
	if t := c.s.opts.timeouts.Handler; t > 0 {
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
// typed-errors capability are plain JSON bodies in the shapes deployed
// servers send (see deployedError); with it, every response body starts
// with a marker byte (0 data, 1 error).
func (c *serverConn) respond(ch *serverChannel, it *item, resp []byte, err error) {
	marker := -1
	switch {
	case err != nil && it.typed:
		resp = marshalError(toWireError(err))
		marker = int(dataMarkerError)
	case err != nil:
		resp = marshalError(deployedError(toWireError(err), it.panicked))
	case it.typed:
		marker = int(dataMarkerOK)
	case len(resp) == 0:
		resp = marshalError(&Error{Code: CodeNoResponse, Message: "handler returned no response for " + it.req.Path})
	}
	if _, err := c.w.writeMessage(context.Background(), statusResponseFirst, it.req.RawPath, ch.id, marker, it.sizeHint, resp); err != nil {
		// A response that cannot be written (the peer does not read it
		// within Timeouts.Write, or the connection broke) would leave the
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
	Caps      []string `json:"caps"`
	FrameSize int      `json:"frame_size"`
	Window    int      `json:"window,omitempty"`
}

type newChannelResponse struct {
	Code      int      `json:"code"`
	ChannelID uint32   `json:"channel_id"`
	Caps      []string `json:"caps,omitempty"`
	FrameSize int      `json:"frame_size,omitempty"`
	Window    int      `json:"window,omitempty"`
}

// acceptCaps returns the capabilities of offer this server accepts, and
// the frame size agreed with "frame-size" (0 when not accepted): the
// smaller of the offered size and the server's, neither below
// MinFrameSize nor above MaxFrameData. "cancel" and "goaway" need
// "control".
func (s *Server) acceptCaps(offer []string, frameSize, window int) (caps []string, fs, win int) {
	has := map[string]bool{}
	for _, cp := range offer {
		has[cp] = true
	}
	for _, cp := range offer {
		switch cp {
		case capTypedErrors, capKeepalive, capControl:
		case capCancel, capGoAway:
			if !has[capControl] {
				continue
			}
		case capStreamResponse:
			if !has[capTypedErrors] {
				continue // its markers need typed errors
			}
		case capSizeHint:
		case capFrameSize:
			if frameSize < MinFrameSize || s.opts.FrameSize < 0 {
				continue
			}
			fs = min(frameSize, s.opts.FrameSize, MaxFrameData)
		case capWindow:
			continue // decided below, once the frame size is known
		default:
			continue
		}
		caps = append(caps, cp)
	}
	if has[capWindow] && has[capControl] && has[capGoAway] && fs > 0 && window >= 2*fs && s.opts.Window > 0 {
		caps = append(caps, capWindow)
		win = max(s.opts.Window, 2*fs)
	}
	return caps, fs, win
}

// sysRequest handles /sys/ paths. Channel creation and deletion take
// effect in the reader, so a client that counts ids locally may use a new
// channel before the answer arrives.
func (c *serverConn) sysRequest(ch *serverChannel, raw string, data []byte, held int64) error {
	it := c.newItem(kindFixed, ch, raw, nil)
	it.req.Data, it.held = data, held
	switch it.req.Path {
	case pathNewChannel:
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
		if !c.peerKnown {
			c.decidePeer(hasCaps)
		}
		negotiating := hasCaps && !c.capsSeen
		if negotiating {
			c.capsSeen = true
			if !c.s.opts.DisableCaps {
				c.caps, c.frameSize, c.window = c.s.acceptCaps(req.Caps, req.FrameSize, req.Window)
				c.peerWindow = req.Window
			}
		}
		if hasCaps {
			resp.Caps = append([]string{}, c.caps...)
			if resp.Caps == nil {
				resp.Caps = []string{}
			}
			resp.FrameSize = c.frameSize
			resp.Window = c.window
		}
		c.mu.Unlock()
		if negotiating {
			for _, cp := range resp.Caps {
				switch cp {
				case capTypedErrors:
					c.typed = true
				case capControl:
					c.control = true
				case capGoAway:
					c.goaway = true
				case capStreamResponse:
					c.streamResp = true
				case capSizeHint:
					c.sizeHint = true
				case capWindow:
					// Frames read from now on count against our window;
					// responses to requests read from now on against
					// the client's.
					c.rwin = &recvWindow{limit: int64(c.window)}
					c.w.win.Store(newSendWindow(int64(c.peerWindow), c.ctx.Done()))
				}
			}
			if c.frameSize > 0 {
				// Responses to requests read from now on may be split at
				// it; the peer reads any split.
				c.w.frameSize.Store(int64(c.frameSize))
			}
		}
		// The negotiating answer itself is plain JSON.
		it.resp, _ = json.Marshal(resp)
		if negotiating {
			it.typed = false
		}
	case pathDeleteChannel:
		if ch.id == 0 {
			it.err = &Error{Code: CodeUnknown, Message: "channel 0 cannot be deleted"}
			break
		}
		ch.deleting = true
		it.kind = kindDelete
	case pathPing:
		it.resp = []byte(`{"code":0}`)
	case pathServerCount, pathServerMeasure, pathPathCount, pathPathMeasure, pathStatis, pathConnectionStatis:
		it.kind = kindSys
	default:
		it.err = &Error{Code: CodeNoHandler, Message: "no handler for path " + it.req.Path}
	}
	return c.dispatch(ch, it)
}

func (c *serverConn) stats() connStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs := connStats{ID: c.id, Remote: c.remote, Since: c.since, Requests: c.requests.Load(), Caps: append([]string{}, c.caps...)}
	for _, ch := range c.chans {
		ch.mu.Lock()
		p := len(ch.queue) - ch.head
		if ch.running {
			p++
		}
		ch.mu.Unlock()
		cs.Channels = append(cs.Channels, channelStats{ID: ch.id, Requests: ch.requests.Load(), Pending: p})
	}
	sort.Slice(cs.Channels, func(i, j int) bool { return cs.Channels[i].ID < cs.Channels[j].ID })
	return cs
}
