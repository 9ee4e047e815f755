package iip

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
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
	opts   Options
	c      net.Conn
	w      *connWriter
	fr     *frameReader
	remote string

	typed     atomic.Bool // server accepted typed-errors
	keepalive bool
	frames    atomic.Uint64 // frames read, for keepalive
	undeleted atomic.Int32  // closed channels kept until a delete_channel answer (see Channel.Close)

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
// opts.DisableCaps, negotiates our capabilities with a first
// /sys/new_channel. ctx bounds the whole handshake; opts.DialTimeout
// applies as well.
func Dial(ctx context.Context, addr string, opts *Options) (*Conn, error) {
	o := opts.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
	defer cancel()
	nc, err := dialTCP(ctx, addr, &o)
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
	c := newConn(nc, o)
	if !o.DisableCaps {
		ch, caps, err := c.openChannel(ctx, []byte(`{"caps":["`+capTypedErrors+`","`+capKeepalive+`"]}`))
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("iip: handshake with %s: %w", addr, err)
		}
		c.spare = ch
		for _, cp := range caps {
			switch cp {
			case capTypedErrors:
				c.typed.Store(true)
			case capKeepalive:
				c.keepalive = o.Keepalive > 0
			}
		}
		if c.keepalive {
			c.wg.Add(1)
			go c.keepaliveLoop()
		}
	}
	if err := sizeForPeer(raw, &o, c.typed.Load()); err != nil {
		c.Close()
		return nil, fmt.Errorf("iip: dial %s: %w", addr, err)
	}
	return c, nil
}

func newConn(nc net.Conn, o Options) *Conn {
	c := &Conn{
		opts:   o,
		c:      nc,
		fr:     newFrameReader(nc, o.ReadBufferSize),
		remote: nc.RemoteAddr().String(),
		chans:  map[uint32]*Channel{},
		done:   make(chan struct{}),
	}
	c.w = newConnWriter(nc, func(err error) { c.fail(fmt.Errorf("%w: write: %v", ErrConnLost, err)) })
	c.chans[0] = newChannel(c, 0)
	c.wg.Add(1)
	go c.readLoop()
	return c
}

// Channel0 returns channel 0, where the /sys/ paths are served.
func (c *Conn) Channel0() *Channel {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.chans[0]
}

// Do sends a request on channel 0 and waits for its response; see Channel.Do.
func (c *Conn) Do(ctx context.Context, path string, data []byte) ([]byte, error) {
	return c.Channel0().Do(ctx, path, data)
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

// openChannel asks for a channel; data is {} or our capability list.
func (c *Conn) openChannel(ctx context.Context, data []byte) (*Channel, []string, error) {
	resp, err := c.Do(ctx, PathNewChannel, data)
	if err != nil {
		return nil, nil, err
	}
	var r struct {
		Code      int      `json:"code"`
		ChannelID *uint32  `json:"channel_id"`
		Caps      []string `json:"caps"`
		Message   string   `json:"message"`
	}
	if err := json.Unmarshal(resp, &r); err != nil {
		return nil, nil, fmt.Errorf("%w: bad %s answer %q: %v", ErrProtocol, PathNewChannel, truncate(resp, 128), err)
	}
	if r.Code != 0 {
		return nil, nil, &Error{Code: r.Code, Message: r.Message}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, nil, c.err
	}
	c.localID++
	id := c.localID
	if r.ChannelID != nil {
		id = *r.ChannelID
	}
	if _, dup := c.chans[id]; dup || id == 0 {
		return nil, nil, fmt.Errorf("%w: server handed out channel id %d which is in use", ErrProtocol, id)
	}
	ch := newChannel(c, id)
	c.chans[id] = ch
	return ch, r.Caps, nil
}

// Caps returns the capabilities the server accepted.
func (c *Conn) Caps() []string {
	var out []string
	if c.typed.Load() {
		out = append(out, capTypedErrors)
	}
	if c.keepalive {
		out = append(out, capKeepalive)
	}
	return out
}

// RemoteAddr returns the server's address.
func (c *Conn) RemoteAddr() string { return c.remote }

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
		_, _ = c.w.writeFrame(ctx, StatusClose, "", 0, -1, []byte(emptyData), false)
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
	for {
		h, err := c.fr.readHeader()
		if err != nil {
			return err
		}
		c.frames.Add(1)
		if h.Status == StatusClose {
			return errPeerClose
		}
		if !h.Status.isResponse() {
			return fmt.Errorf("%w: server sent a %s frame on channel %d", ErrProtocol, h.Status, h.Channel)
		}
		ch := c.channel(h.Channel)
		if ch == nil {
			return fmt.Errorf("%w: response on unknown channel %d", ErrProtocol, h.Channel)
		}
		if h.Status.first() {
			if ch.inActive {
				return fmt.Errorf("%w: first frame while a response is incomplete on channel %d", ErrProtocol, h.Channel)
			}
			pooled, err := ch.checkHead(h.Path)
			if err != nil {
				return err
			}
			if int(h.Length) > max+1 {
				ch.inTooLarge = true
				if err := c.fr.discard(int(h.Length)); err != nil {
					return err
				}
			} else if pooled && h.Status == StatusResponse && int(h.Length) <= c.fr.size {
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
			ch.inSize = int(h.Length)
			if h.Status == StatusResponse {
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
		ch.inSize += int(h.Length)
		if ch.inTooLarge || ch.inSize > max+1 {
			ch.inTooLarge, ch.inBuf = true, nil
			if err := c.fr.discard(int(h.Length)); err != nil {
				return err
			}
		} else {
			ch.inBuf, err = c.fr.appendData(ch.inBuf, int(h.Length))
			if err != nil {
				return err
			}
		}
		if h.Status == StatusResponseContinueEnd {
			ch.inActive = false
			if err := ch.deliver(); err != nil {
				return err
			}
		}
	}
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

// keepaliveLoop pings channel 0 when nothing was read for an interval and
// closes the connection when the ping is not answered within another
// interval (at least minPingTimeout).
func (c *Conn) keepaliveLoop() {
	defer c.wg.Done()
	iv := c.opts.Keepalive
	t := time.NewTicker(iv)
	defer t.Stop()
	last := c.frames.Load()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		if n := c.frames.Load(); n != last {
			last = n
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(iv, minPingTimeout))
		_, err := c.Do(ctx, PathPing, nil)
		cancel()
		if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrConnLost) {
			c.opts.Logger.Warn("iip: keepalive failed, closing connection", "remote", c.remote, "err", err)
			c.fail(fmt.Errorf("%w: keepalive: %v", ErrConnLost, err))
			return
		}
		last = c.frames.Load()
	}
}
