package iip

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is one client connection to an IIP server: channel 0 plus the
// channels opened with NewChannel. It is safe for concurrent use. Its
// reader goroutine matches each response to the oldest pending call of
// its channel; when the connection breaks every pending call fails at once
// with an error wrapping ErrConnLost.
type Conn struct {
	opts   clientOptions
	c      net.Conn
	w      *connWriter
	fr     *frameReader
	remote string

	typed    atomic.Bool // server accepted typed-errors
	sizeHint atomic.Bool // server accepted size-hint: multi-frame messages announce their size
	// "window": rwin counts what the reader reads of the server's
	// flow-controlled frames; acked holds the bytes to acknowledge, and
	// acks wakes ctlWriter to write them.
	rwin      atomic.Pointer[recvWindow]
	acked     atomic.Int64
	acks      chan struct{}
	keepalive bool
	frames    atomic.Uint64 // frames read, for keepalive
	activity  atomic.Int64  // bytes read, for keepalive: a connection that is answering is alive
	undeleted atomic.Int32  // closed channels kept until a delete_channel answer (see Channel.Close)

	// Capabilities beyond typed errors and keepalive, set by Dial before
	// the Conn is shared: ctl is the control channel ("control"), cancels
	// queues /sys/cancel requests for ctlWriter ("cancel"), goaway says
	// the server announces a graceful shutdown.
	ctl        *Channel
	cancels    chan cancelReq
	goaway     bool
	streamResp bool // "stream-response": the server may stream responses
	frameSize  int
	leaving    atomic.Bool // a goaway arrived: no new calls

	mu       sync.RWMutex
	chans    map[uint32]*Channel
	localID  uint32 // local count of channels, for servers that send no id
	spare    *Channel
	err      error // why the connection ended; set once
	closing  bool
	done     chan struct{}
	wg       sync.WaitGroup
	closeErr sync.Once
}

// Dial connects to the IIP server at addr (host:port) and, unless
// Config.DisableCaps, negotiates our capabilities with a first
// /sys/new_channel. ctx bounds the whole handshake; WithDialTimeout
// applies as well. opts configure the connection (none: all defaults; see
// Option and ClientOption); an option out of its documented range, or one
// of NewLoadBalanceClient's, is an error wrapping ErrInvalidConfig.
func Dial(ctx context.Context, addr string, opts ...ClientOption) (*Conn, error) {
	o, err := newClientOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := o.refuseBalancer("Dial"); err != nil {
		return nil, err
	}
	return dial(ctx, addr, &o)
}

// dial is Dial with settings that have their defaults.
func dial(ctx context.Context, addr string, o *clientOptions) (*Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
	defer cancel()
	nc, err := dialTCP(ctx, addr, o)
	if err != nil {
		return nil, fmt.Errorf("iip: dial %s: %w", addr, err)
	}
	raw := nc
	if o.TLSConfig != nil {
		cfg := o.TLSConfig.Clone()
		if cfg.ServerName == "" {
			host, _, _ := net.SplitHostPort(addr)
			cfg.ServerName = host
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("iip: tls handshake with %s: %w", addr, err)
		}
		nc = tc
	}
	c := newConn(nc, *o)
	if !o.DisableCaps {
		ch, neg, err := c.openChannel(ctx, capOffer(o))
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("iip: handshake with %s: %w", addr, err)
		}
		c.spare = ch
		if err := c.applyCaps(neg); err != nil {
			c.Close()
			return nil, fmt.Errorf("iip: handshake with %s: %w", addr, err)
		}
	}
	if err := sizeForPeer(raw, o, c.typed.Load()); err != nil {
		c.Close()
		return nil, fmt.Errorf("iip: dial %s: %w", addr, err)
	}
	return c, nil
}

func newConn(nc net.Conn, o clientOptions) *Conn {
	c := &Conn{
		opts:   o,
		c:      nc,
		fr:     newFrameReader(nc, o.ReadBufferSize),
		remote: nc.RemoteAddr().String(),
		chans:  map[uint32]*Channel{},
		done:   make(chan struct{}),
	}
	c.fr.activity = &c.activity
	c.w = newConnWriter(nc, func(err error) { c.fail(fmt.Errorf("%w: write: %v", ErrConnLost, err)) })
	c.chans[0] = newChannel(c, 0)
	c.wg.Add(1)
	go c.readLoop()
	return c
}

// channel0 returns channel 0, where the /sys/ paths are served.
func (c *Conn) channel0() *Channel {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.chans[0]
}

// Do sends a request on channel 0 and waits for its response; see Channel.Do.
func (c *Conn) Do(ctx context.Context, path string, data []byte) ([]byte, error) {
	return c.channel0().Do(ctx, path, data)
}

// NewChannel opens a new channel with /sys/new_channel.
func (c *Conn) NewChannel(ctx context.Context) (*Channel, error) {
	c.mu.Lock()
	if ch := c.spare; ch != nil {
		c.spare = nil
		c.mu.Unlock()
		return ch, nil
	}
	c.mu.Unlock()
	ch, _, err := c.openChannel(ctx, []byte(emptyData))
	return ch, err
}

// capOffer is the data of our first /sys/new_channel: every capability
// this client speaks and, unless o.FrameSize is negative, its frame size.
func capOffer(o *clientOptions) []byte {
	offer := newChannelRequest{Caps: []string{capTypedErrors, capKeepalive, capControl, capCancel, capGoAway, capStreamResponse}}
	if !o.noSizeHint {
		offer.Caps = append(offer.Caps, capSizeHint)
	}
	if o.FrameSize > 0 {
		offer.Caps = append(offer.Caps, capFrameSize)
		offer.FrameSize = o.FrameSize
		if o.Window > 0 {
			offer.Caps = append(offer.Caps, capWindow)
			offer.Window = o.Window
		}
	}
	b, _ := json.Marshal(offer)
	return b
}

// negotiated is what the server's answer to our offer accepted.
type negotiated struct {
	caps      []string
	frameSize int
	window    int // the server's window ("window")
}

// applyCaps switches on what the server accepted; the Conn is not shared
// yet.
func (c *Conn) applyCaps(n negotiated) error {
	window := false
	for _, cp := range n.caps {
		switch cp {
		case capTypedErrors:
			c.typed.Store(true)
		case capKeepalive:
			c.keepalive = c.opts.Keepalive > 0
		case capControl:
			c.ctl = newChannel(c, controlChannel)
		case capCancel:
			c.cancels = make(chan cancelReq, maxQueuedCancels)
		case capGoAway:
			c.goaway = true
		case capStreamResponse:
			c.streamResp = true
		case capSizeHint:
			c.sizeHint.Store(true)
		case capFrameSize:
			if n.frameSize < MinFrameSize || n.frameSize > MaxFrameData || c.opts.FrameSize <= 0 || n.frameSize > c.opts.FrameSize {
				return fmt.Errorf("%w: server agreed frame size %d to our offer %d", ErrProtocol, n.frameSize, c.opts.FrameSize)
			}
			c.frameSize = n.frameSize
			c.w.frameSize.Store(int64(n.frameSize))
		case capWindow:
			window = true
		}
	}
	if window {
		if c.frameSize == 0 || c.ctl == nil || !c.goaway || c.opts.Window <= 0 || n.window < 2*c.frameSize {
			return fmt.Errorf("%w: server agreed window %d (frame size %d, control %v) to our offer %d", ErrProtocol, n.window, c.frameSize, c.ctl != nil, c.opts.Window)
		}
		c.rwin.Store(&recvWindow{limit: int64(c.opts.Window)})
		c.w.win.Store(newSendWindow(int64(n.window), c.done))
		c.acks = make(chan struct{}, 1)
	}
	if c.ctl == nil {
		c.cancels, c.goaway = nil, false
	} else {
		c.mu.Lock()
		c.chans[controlChannel] = c.ctl
		c.mu.Unlock()
	}
	if c.cancels != nil || c.acks != nil {
		c.wg.Add(1)
		go c.ctlWriter()
	}
	if c.keepalive || c.ctl != nil && c.opts.Keepalive > 0 {
		c.keepalive = true
		c.wg.Add(1)
		go c.keepaliveLoop()
	}
	return nil
}

// openChannel asks for a channel; data is {} or our capability offer.
func (c *Conn) openChannel(ctx context.Context, data []byte) (*Channel, negotiated, error) {
	var neg negotiated
	resp, err := c.Do(ctx, pathNewChannel, data)
	if err != nil {
		return nil, neg, err
	}
	var r struct {
		Code      int      `json:"code"`
		ChannelID *uint32  `json:"channel_id"`
		Caps      []string `json:"caps"`
		FrameSize int      `json:"frame_size"`
		Window    int      `json:"window"`
		Message   string   `json:"message"`
	}
	if err := json.Unmarshal(resp, &r); err != nil {
		return nil, neg, fmt.Errorf("%w: bad %s answer %q: %v", ErrProtocol, pathNewChannel, truncate(resp, 128), err)
	}
	if r.Code != 0 {
		return nil, neg, &Error{Code: r.Code, Message: r.Message}
	}
	neg = negotiated{caps: r.Caps, frameSize: r.FrameSize, window: r.Window}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, neg, c.err
	}
	c.localID++
	id := c.localID
	if r.ChannelID != nil {
		id = *r.ChannelID
	}
	if _, dup := c.chans[id]; dup || id == 0 || id == controlChannel {
		return nil, neg, fmt.Errorf("%w: server handed out channel id %d which is in use", ErrProtocol, id)
	}
	if c.leaving.Load() {
		return nil, neg, &notSentError{path: pathNewChannel, err: ErrGoAway}
	}
	ch := newChannel(c, id)
	c.chans[id] = ch
	return ch, neg, nil
}

// acceptedCaps returns the capabilities the server accepted (tests).
func (c *Conn) acceptedCaps() []string {
	var out []string
	if c.typed.Load() {
		out = append(out, capTypedErrors)
	}
	if c.keepalive {
		out = append(out, capKeepalive)
	}
	if c.ctl != nil {
		out = append(out, capControl)
	}
	if c.cancels != nil {
		out = append(out, capCancel)
	}
	if c.goaway {
		out = append(out, capGoAway)
	}
	if c.streamResp {
		out = append(out, capStreamResponse)
	}
	if c.sizeHint.Load() {
		out = append(out, capSizeHint)
	}
	if c.w.win.Load() != nil {
		out = append(out, capWindow)
	}
	if c.frameSize > 0 {
		out = append(out, capFrameSize)
	}
	return out
}

// sentFrameSize returns the largest frame data sent on the connection: the
// size negotiated with "frame-size", else MaxFrameData (tests).
func (c *Conn) sentFrameSize() int { return int(c.w.frameSize.Load()) }

// Err returns why the connection ended, or nil while it is up.
func (c *Conn) Err() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.err
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Close sends a close frame, closes the connection, fails pending calls
// with ErrClosed and waits for the connection's goroutines to end.
func (c *Conn) Close() error {
	c.mu.Lock()
	first := c.err == nil && !c.closing
	c.closing = true
	c.mu.Unlock()
	if first {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, _ = c.w.writeFrame(ctx, statusClose, "", 0, -1, -1, []byte(emptyData), false)
		cancel()
	}
	c.fail(ErrClosed)
	c.wg.Wait()
	return nil
}

// fail ends the connection once: closes the socket and fails every
// pending call with err.
func (c *Conn) fail(err error) {
	c.closeErr.Do(func() {
		c.mu.Lock()
		c.err = err
		chans := make([]*Channel, 0, len(c.chans))
		for _, ch := range c.chans {
			chans = append(chans, ch)
		}
		c.mu.Unlock()
		_ = c.c.Close()
		for _, ch := range chans {
			ch.failAll(err)
		}
		close(c.done)
	})
}

func (c *Conn) channel(id uint32) *Channel {
	c.mu.RLock()
	ch := c.chans[id]
	c.mu.RUnlock()
	return ch
}

func (c *Conn) removeChannel(id uint32) {
	c.mu.Lock()
	delete(c.chans, id)
	c.mu.Unlock()
}

func (c *Conn) readLoop() {
	defer c.wg.Done()
	err := c.read()
	c.mu.RLock()
	closing := c.closing
	c.mu.RUnlock()
	if closing {
		c.fail(ErrClosed)
		return
	}
	switch {
	case errors.Is(err, net.ErrClosed):
	case errors.Is(err, io.EOF), errors.Is(err, errPeerClose):
		c.opts.Logger.Info("iip: server closed the connection", "remote", c.remote, "reason", err)
	default:
		c.opts.Logger.Warn("iip: closing client connection", "remote", c.remote, "err", err)
	}
	c.fail(fmt.Errorf("%w: %w", ErrConnLost, err))
}

func (c *Conn) read() error {
	max := c.opts.MaxMessageSize
	var fc uint32 // the last frame's flow-controlled bytes, acknowledged once read
	for {
		if fc > 0 {
			c.windowRead(fc)
			fc = 0
		}
		h, err := c.fr.readHeader()
		if err != nil {
			return err
		}
		c.frames.Add(1)
		if h.Status == statusClose {
			return errPeerClose
		}
		if !h.Status.isResponse() {
			return fmt.Errorf("%w: server sent a %s frame on channel %d", ErrProtocol, h.Status, h.Channel)
		}
		if rw := c.rwin.Load(); rw != nil {
			if flowControlled(h.Status) {
				if err := rw.arrive(h.Length); err != nil {
					return err
				}
				fc = h.Length
			} else if h.Channel == controlChannel && string(h.Path) == pathWindow {
				if err := c.readWindowUpdate(h); err != nil {
					return err
				}
				continue
			}
		}
		if h.Channel == controlChannel && c.goaway && string(h.Path) == pathGoAway {
			if err := c.readGoAway(h); err != nil {
				return err
			}
			continue
		}
		ch := c.channel(h.Channel)
		if ch == nil {
			return fmt.Errorf("%w: response on unknown channel %d", ErrProtocol, h.Channel)
		}
		if h.Status.first() {
			if ch.inActive {
				return fmt.Errorf("%w: first frame while a response is incomplete on channel %d", ErrProtocol, h.Channel)
			}
			pooled, st, err := ch.checkHead(h.Path)
			if err != nil {
				return err
			}
			want := 0
			if h.Status == statusResponseFirst && c.sizeHint.Load() {
				if want, err = c.fr.readSizeHint(&h); err != nil {
					return err
				}
			}
			if st != nil {
				if err := c.readStreamFirst(ch, st, h); err != nil {
					return err
				}
				continue
			}
			if int(h.Length) > max+1 {
				ch.inTooLarge = true
				if err := c.fr.discard(int(h.Length)); err != nil {
					return err
				}
			} else if pooled && h.Status == statusResponse && int(h.Length) <= c.fr.size {
				if err := c.readPooled(ch, int(h.Length)); err != nil {
					return err
				}
			} else {
				data, err := c.fr.readPayload(int(h.Length))
				if err != nil {
					return err
				}
				ch.inBuf = data
			}
			ch.inSize, ch.inWant = int(h.Length), want
			if want > max+1 {
				ch.inTooLarge, ch.inBuf = true, nil
			}
			if h.Status == statusResponse {
				if err := ch.deliver(); err != nil {
					return err
				}
			} else {
				ch.inActive = true
			}
			continue
		}
		if !ch.inActive {
			return fmt.Errorf("%w: continuation frame without a first frame on channel %d", ErrProtocol, h.Channel)
		}
		if st := ch.inStream; st != nil {
			if err := c.readStreamNext(ch, st, h); err != nil {
				return err
			}
			continue
		}
		if h.Status == statusResponseContinueEnd && ch.inStreamed() && !ch.inTooLarge {
			// A streamed response read whole: its last frame starts with
			// a trailer byte, kept apart.
			var t [1]byte
			if err := c.fr.readData(t[:]); err != nil {
				return err
			}
			ch.inTrailer, ch.inTrailerAt = int(t[0]), len(ch.inBuf)
			h.Length--
		}
		ch.inSize += int(h.Length)
		if w := ch.inWant; w > 0 && (ch.inSize > w || h.Status == statusResponseContinueEnd && ch.inSize != w) {
			return fmt.Errorf("%w: response on channel %d announced %d bytes and carries %d or more", ErrProtocol, ch.id, w, ch.inSize)
		}
		if ch.inTooLarge || ch.inSize > max+1 {
			ch.inTooLarge, ch.inBuf = true, nil
			if err := c.fr.discard(int(h.Length)); err != nil {
				return err
			}
		} else {
			limit := 0 // the last frame: the response ends here
			if h.Status != statusResponseContinueEnd {
				limit = max + 1
			}
			if ch.inWant > 0 {
				limit = ch.inWant // grown once, to the announced size
			}
			ch.inBuf, err = c.fr.appendDataExact(ch.inBuf, int(h.Length), limit, ch.inWant > 0)
			if err != nil {
				return err
			}
		}
		if h.Status == statusResponseContinueEnd {
			ch.inActive = false
			if err := ch.deliver(); err != nil {
				return err
			}
		}
	}
}

// windowRead acknowledges n bytes of flow-controlled frames read, once
// they add up to half our window: ctlWriter writes the /sys/window.
func (c *Conn) windowRead(n uint32) {
	if ack := c.rwin.Load().consumed(n); ack > 0 {
		c.acked.Add(ack)
		select {
		case c.acks <- struct{}{}:
		default: // ctlWriter has a wake-up pending: it takes all acked
		}
	}
}

// readWindowUpdate reads the server's /sys/window: credit for our
// flow-controlled frames.
func (c *Conn) readWindowUpdate(h frameHeader) error {
	if h.Status != statusResponse || h.Length > maxWindowData {
		return fmt.Errorf("%w: %s as %s of %d bytes", ErrProtocol, pathWindow, h.Status, h.Length)
	}
	var buf [maxWindowData]byte
	data := buf[:h.Length]
	if err := c.fr.readData(data); err != nil {
		return err
	}
	if c.typed.Load() {
		if len(data) == 0 || data[0] != dataMarkerOK {
			return fmt.Errorf("%w: %s without its marker", ErrProtocol, pathWindow)
		}
		data = data[1:]
	}
	n, err := parseWindowUpdate(data)
	if err != nil {
		return err
	}
	return c.w.win.Load().grant(n)
}

// readPooled reads a one-frame response of n bytes into a pooled buffer
// (the typed-errors marker apart), for a caller that copies it out.
func (c *Conn) readPooled(ch *Channel, n int) error {
	if c.typed.Load() {
		var m [1]byte
		if err := c.fr.readData(m[:]); err != nil {
			return err
		}
		ch.inMarker = int(m[0])
		n--
	}
	if n == 0 {
		ch.inBuf = []byte{}
		return nil
	}
	// The pooled buffer is taken once the bytes have arrived (n fits the
	// read buffer): never for a length a server merely announced.
	if err := c.fr.ensure(n); err != nil {
		return unexpected(err)
	}
	pb := getBuf(n)
	if err := c.fr.readData(*pb); err != nil {
		putBuf(pb)
		return err
	}
	ch.inBuf, ch.inPB = *pb, pb
	return nil
}

// minPingTimeout is the least time a keepalive ping is given to be answered.
const minPingTimeout = time.Second

// keepaliveLoop pings when nothing was read for an interval: on the
// control channel when the server accepted "control" (answered by its
// reader at once, never behind a call), else on channel 0. The connection
// is closed only when, after the ping, nothing at all (no byte) arrives
// for another interval (at least minPingTimeout): a server that is
// sending anything, even another call's large response, is answering.
func (c *Conn) keepaliveLoop() {
	defer c.wg.Done()
	iv := c.opts.Keepalive
	t := time.NewTicker(iv)
	defer t.Stop()
	last := c.activity.Load()
	ping := c.channel0()
	if c.ctl != nil {
		ping = c.ctl
	}
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		if n := c.activity.Load(); n != last {
			last = n
			continue
		}
		if c.ping(ping, max(iv, minPingTimeout), last) {
			return
		}
		last = c.activity.Load()
	}
}

// ping sends one keepalive ping on ch and waits for its answer; while
// bytes keep arriving (activity moves past since) it waits on, one
// timeout at a time. It reports whether it closed the connection.
func (c *Conn) ping(ch *Channel, timeout time.Duration, since int64) bool {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := make(chan error, 1)
	go func() {
		_, err := ch.Do(ctx, pathPing, nil)
		res <- err
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case err := <-res:
			if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrConnLost) && !isNotSent(err) {
				c.opts.Logger.Warn("iip: keepalive failed, closing connection", "remote", c.remote, "err", err)
				c.fail(fmt.Errorf("%w: keepalive: %v", ErrConnLost, err))
				return true
			}
			return false
		case <-c.done:
			cancel()
			<-res
			return true
		case <-t.C:
			if n := c.activity.Load(); n != since {
				since = n // the server is sending: it is alive
				t.Reset(timeout)
				continue
			}
			err := fmt.Errorf("%w: keepalive: %s not answered and nothing received for %v", ErrConnLost, pathPing, timeout)
			c.opts.Logger.Warn("iip: keepalive failed, closing connection", "remote", c.remote, "err", err)
			c.fail(err)
			<-res
			return true
		}
	}
}

// cancelReq is a /sys/cancel to send: request seq of channel ch.
type cancelReq struct {
	ch  uint32
	seq uint64
}

// maxQueuedCancels bounds the /sys/cancel requests waiting to be written;
// past it a cancel is dropped (the server's handler then runs to its end,
// as toward servers without "cancel").
const maxQueuedCancels = 64

// sendCancel queues a /sys/cancel for request seq of channel ch; it never
// blocks.
func (c *Conn) sendCancel(ch uint32, seq uint64) {
	select {
	case c.cancels <- cancelReq{ch, seq}:
	default:
	}
}

// ctlWriter writes the queued /sys/cancel requests and the /sys/window
// acknowledgements on the control channel (neither is answered) until the
// connection ends.
func (c *Conn) ctlWriter() {
	defer c.wg.Done()
	var buf []byte
	for {
		select {
		case <-c.done:
			return
		case r := <-c.cancels:
			buf = fmt.Appendf(buf[:0], `{"channel":%d,"seq":%d}`, r.ch, r.seq)
			if _, err := c.w.writeMessage(context.Background(), statusRequestFirst, pathCancel, controlChannel, -1, false, buf); err != nil {
				return // the writer failed the connection
			}
		case <-c.acks:
			n := c.acked.Swap(0)
			if n == 0 {
				continue // taken with an earlier wake-up
			}
			buf = fmt.Appendf(buf[:0], `{"n":%d}`, n)
			if _, err := c.w.writeMessage(context.Background(), statusRequestFirst, pathWindow, controlChannel, -1, false, buf); err != nil {
				return
			}
		}
	}
}

// maxGoAwayData bounds the data of a /sys/goaway message: 1 MiB (a
// connection of 1024 channels needs about 30 KiB).
const maxGoAwayData = 1 << 20

// readGoAway reads a /sys/goaway and fails every call the server did not
// read with an error wrapping ErrGoAway that Client and LoadBalanceClient
// resend elsewhere; the others are answered before the server closes. No
// call is sent on the connection any more.
func (c *Conn) readGoAway(h frameHeader) error {
	if h.Status != statusResponse || h.Length > maxGoAwayData {
		return fmt.Errorf("%w: %s as %s of %d bytes", ErrProtocol, pathGoAway, h.Status, h.Length)
	}
	data, err := c.fr.readPayload(int(h.Length))
	if err != nil {
		return err
	}
	if c.typed.Load() {
		if data[0] != dataMarkerOK {
			return fmt.Errorf("%w: %s with marker %#x", ErrProtocol, pathGoAway, data[0])
		}
		data = data[1:]
	}
	var g struct {
		Read map[string]uint64 `json:"read"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		return fmt.Errorf("%w: bad %s data %q: %v", ErrProtocol, pathGoAway, truncate(data, 128), err)
	}
	if rw := c.rwin.Load(); rw != nil {
		rw.off = true // the server no longer reads our acknowledgements
	}
	c.leaving.Store(true)
	c.mu.Lock()
	chans := make([]*Channel, 0, len(c.chans))
	for id, ch := range c.chans {
		if id != controlChannel {
			chans = append(chans, ch)
		}
	}
	c.mu.Unlock()
	failed := 0
	for _, ch := range chans {
		failed += ch.goAway(g.Read[strconv.FormatUint(uint64(ch.id), 10)])
	}
	if hook := testHookGoAway; hook != nil {
		hook(failed)
	}
	c.opts.Logger.Info("iip: server is going away", "remote", c.remote, "unread_calls", failed)
	return nil
}

// testHookGoAway, set by tests before dialing, sees how many calls each
// /sys/goaway failed.
var testHookGoAway func(failed int)
