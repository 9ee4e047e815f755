package iip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Client is a pool of connections and channels to one server address.
// Do spreads concurrent calls over up to PoolConns connections with up to
// PoolChannels channels each, one call per channel at a time, dialing and
// opening channels on demand and replacing broken connections. It is safe
// for concurrent use; a balanced client can wrap one Client per backend.
type Client struct {
	addr string
	opts clientOptions
	max  int
	idle chan *Channel // idle channels
	wakc chan struct{} // a token lets a waiter retry growing the pool

	mu    sync.Mutex
	conns []*Conn
	// leavingConns are connections whose server announced a graceful
	// shutdown (goaway): out of the pool, reaped once they end.
	leavingConns []*Conn
	chans        map[*Conn]int // channels per connection
	total        int           // channels open or being opened
	dialing      int           // connections being dialed
	closed       bool

	onWait func() // test hook: called each time get starts waiting for a channel

	// notSentRetries is how often call and DoStream resend a request that never
	// left (maxNotSentRetries); 0 for a LoadBalanceClient's backend, whose
	// balancer is then the only place such calls are sent again.
	notSentRetries int
}

// NewClient dials the first connection to addr (so that a wrong address
// or a refused handshake is reported at once), bounded by ctx and
// WithDialTimeout, and returns the pool; ctx is used for that dial only.
// opts configure it (none: all defaults; see Option and ClientOption;
// WithPool sizes the pool); an option out of its documented range, or one
// of NewLoadBalanceClient's, is an error wrapping ErrInvalidConfig.
func NewClient(ctx context.Context, addr string, opts ...ClientOption) (*Client, error) {
	o, err := newClientOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := o.refuseBalancer("NewClient"); err != nil {
		return nil, err
	}
	c := newClient(addr, o)
	conn, err := dial(ctx, addr, &o)
	if err != nil {
		return nil, err
	}
	c.conns = append(c.conns, conn)
	c.chans[conn] = 0
	return c, nil
}

// newClient returns an empty pool (no connection yet) for addr; o has its defaults.
func newClient(addr string, o clientOptions) *Client {
	c := &Client{addr: addr, opts: o, max: o.PoolConns * o.PoolChannels, chans: map[*Conn]int{}, notSentRetries: maxNotSentRetries}
	c.idle = make(chan *Channel, c.max)
	c.wakc = make(chan struct{}, o.PoolChannels)
	return c
}

// Do sends data to path on an idle pooled channel and waits for the
// response; see Channel.Do for errors and timeouts. When every channel is
// busy and the pool is full, Do waits for one until ctx ends.
//
// A call whose request could not leave because its connection had just
// broken (so the server never saw it) is retried on another channel, up to
// twice, as net/http's Transport retries a request whose reused connection
// failed before it was written; a call that was sent is never retried. (A
// LoadBalanceClient leaves such retries to its balancer, which may move the
// call to another server.)
//
// /sys/delete_channel and /sys/new_channel are refused with an error wrapping
// ErrBadPath, nothing sent: the pool alone opens and deletes its channels.
func (c *Client) Do(ctx context.Context, path string, data []byte) ([]byte, error) {
	resp, _, _, err := c.call(ctx, path, data, false)
	return resp, err
}

// DoAppend is Do that appends the response to dst and returns the extended
// slice (dst unchanged on error); see Channel.DoAppend. A caller that
// reuses dst causes no allocation per call.
func (c *Client) DoAppend(ctx context.Context, path string, data, dst []byte) ([]byte, error) {
	resp, pb, _, err := c.call(ctx, path, data, true)
	return appendResponse(dst, resp, pb, err)
}

// call is Do that also reports whether the request may have reached the
// server: sent is false when it provably never left (no channel could be
// had, or its connection had broken before any byte was written), so that
// a balanced client may send it to another backend. With pooled, the
// response may come in a pooled buffer pb (see Channel.do).
func (c *Client) call(ctx context.Context, path string, data []byte, pooled bool) (resp []byte, pb *[]byte, sent bool, err error) {
	if err := checkPooledPath(path); err != nil {
		return nil, nil, false, err
	}
	for attempt := 0; ; attempt++ {
		ch, err := c.get(ctx)
		if err != nil {
			return nil, nil, false, err
		}
		resp, pb, err := ch.do(ctx, path, data, pooled, nil)
		if err != nil && ctx.Err() != nil && ch.whenDrained(c.putDrained) {
			// The call was abandoned with its response still due: keep the
			// channel out of the pool until the late response is consumed,
			// so that no caller waits behind it.
			return resp, pb, true, err
		}
		c.put(ch)
		if err != nil && isNotSent(err) {
			if attempt < c.notSentRetries {
				continue
			}
			return resp, pb, false, err
		}
		return resp, pb, true, err
	}
}

// checkPooledPath refuses the paths that change the state of the channel
// they are sent on, /sys/delete_channel and /sys/new_channel (with or without a
// query): a Client lends its channels to one call at a time and alone opens
// and deletes them, so such a call would break the pool for every other
// caller (a proxy forwarding its clients' paths would let any of them do
// it). The error wraps ErrBadPath. Use NewChannel and Channel.Close to
// manage a channel of your own.
func checkPooledPath(path string) error {
	if len(path) < len(sysPrefix) || path[:len(sysPrefix)] != sysPrefix {
		return nil // the common case: one comparison
	}
	p := path
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if p == pathDeleteChannel || p == pathNewChannel {
		return fmt.Errorf("%w: %s is refused on a pooled channel: a Client alone opens and deletes its channels (use NewChannel and Channel.Close)", ErrBadPath, p)
	}
	return nil
}

// isNotSent reports whether err says that the request never left. It is a
// function of its own so that its errors.As target is allocated only for
// failed calls.
func isNotSent(err error) bool {
	var ns *notSentError
	return errors.As(err, &ns)
}

// maxNotSentRetries bounds how often a Client (not a LoadBalanceClient's
// backend: see Client.notSentRetries) resends a call that never left because
// its connection broke.
const maxNotSentRetries = 2

func (c *Client) putDrained(ch *Channel, ok bool) {
	if ok {
		c.put(ch)
	} else {
		c.discard(ch)
	}
}

// NewChannel opens a channel for the caller's exclusive use, on the pool's
// least loaded connection (dialing one if the pool has room). It does not
// count against PoolChannels; close it with Channel.Close.
func (c *Client) NewChannel(ctx context.Context) (*Channel, error) {
	conn, err := c.pickConn(ctx, true)
	if err != nil {
		return nil, err
	}
	return conn.NewChannel(ctx)
}

// Close closes every connection of the pool; pending calls fail with
// ErrClosed and later calls return ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	conns := append(c.conns, c.leavingConns...)
	c.conns, c.leavingConns = nil, nil
	c.mu.Unlock()
	for _, conn := range conns {
		_ = conn.Close()
	}
	for {
		select {
		case <-c.idle:
		default:
			return nil
		}
	}
}

func (c *Client) get(ctx context.Context) (*Channel, error) {
	for {
		select {
		case ch := <-c.idle:
			if ch.usable() {
				return ch, nil
			}
			c.discard(ch)
			continue
		default:
		}
		ch, ok, err := c.grow(ctx)
		if err != nil {
			return nil, err
		}
		if ok {
			return ch, nil
		}
		if c.onWait != nil {
			c.onWait()
		}
		select {
		case ch := <-c.idle:
			if ch.usable() {
				return ch, nil
			}
			c.discard(ch)
		case <-c.wakc:
		case <-ctx.Done():
			return nil, fmt.Errorf("iip: waiting for a pooled channel: %w", ctx.Err())
		}
	}
}

func (c *Client) put(ch *Channel) {
	if !ch.usable() {
		c.discard(ch)
		return
	}
	select {
	case c.idle <- ch:
	default: // cannot happen: idle holds every channel
		c.discard(ch)
	}
}

// discard forgets a broken channel and wakes one waiter to grow the pool.
func (c *Client) discard(ch *Channel) {
	c.mu.Lock()
	c.total--
	if n, ok := c.chans[ch.conn]; ok {
		c.chans[ch.conn] = n - 1
	}
	c.mu.Unlock()
	c.wake(1)
}

// grow opens one more pooled channel if the pool has room.
func (c *Client) grow(ctx context.Context) (*Channel, bool, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.wake(1) // pass the wake-up on: every queued call must see ErrClosed
		return nil, false, ErrClosed
	}
	if c.total >= c.max {
		c.mu.Unlock()
		return nil, false, nil
	}
	c.total++
	c.mu.Unlock()
	conn, err := c.pickConn(ctx, false)
	if err == nil {
		var ch *Channel
		if ch, err = conn.NewChannel(ctx); err == nil {
			return ch, true, nil
		}
		c.mu.Lock()
		c.chans[conn]--
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.total--
	c.mu.Unlock()
	if err == errNoRoom {
		return nil, false, nil
	}
	c.wake(1) // the slot this call counted is free again
	return nil, false, err
}

// errNoRoom: every connection is full and the pool may not dial; wait.
var errNoRoom = errors.New("iip: pool full")

// wake lets up to n waiters retry growing the pool.
func (c *Client) wake(n int) {
	for range n {
		select {
		case c.wakc <- struct{}{}:
		default:
			return
		}
	}
}

// pickConn returns the live connection with the fewest pool channels,
// dialing a new one when the pool has room and every connection already
// has a channel (or is full or dead).
// Unless dedicated, the chosen connection's channel count is incremented.
func (c *Client) pickConn(ctx context.Context, dedicated bool) (*Conn, error) {
	c.mu.Lock()
	var dead []*Conn
	defer func() {
		for _, conn := range dead {
			_ = conn.Close() // reap its goroutines
		}
	}()
	live := c.conns[:0]
	for _, conn := range c.conns {
		switch {
		case conn.Err() != nil:
			delete(c.chans, conn)
			dead = append(dead, conn)
		case conn.leaving.Load():
			// Its server is going away: it answers the calls it read and
			// closes; Close reaps it if the server does not.
			delete(c.chans, conn)
			c.leavingConns = append(c.leavingConns, conn)
		default:
			live = append(live, conn)
		}
	}
	for i := len(live); i < len(c.conns); i++ {
		c.conns[i] = nil
	}
	leaving := c.leavingConns[:0]
	for _, conn := range c.leavingConns {
		if conn.Err() != nil {
			dead = append(dead, conn)
		} else {
			leaving = append(leaving, conn)
		}
	}
	clear(c.leavingConns[len(leaving):])
	c.leavingConns = leaving
	c.conns = live
	var best *Conn
	for _, conn := range c.conns {
		if n := c.chans[conn]; n < c.opts.PoolChannels && (best == nil || n < c.chans[best]) {
			best = conn
		}
	}
	// Spread channels over connections: while the pool may dial, a new
	// connection is preferred to a second channel on a busy one, so that
	// concurrent calls get separate readers and sockets.
	if best != nil && c.chans[best] > 0 && !dedicated && len(c.conns)+c.dialing < c.opts.PoolConns {
		best = nil
	}
	if best == nil && dedicated && len(c.conns) > 0 && len(c.conns) >= c.opts.PoolConns {
		best = c.conns[0]
	}
	if best != nil {
		if !dedicated {
			c.chans[best]++
		}
		c.mu.Unlock()
		return best, nil
	}
	if len(c.conns)+c.dialing >= c.opts.PoolConns {
		c.mu.Unlock()
		if !dedicated {
			return nil, errNoRoom
		}
		return nil, &Error{Code: CodeClientConnLimit, Message: fmt.Sprintf("client connection limit %d reached", c.opts.PoolConns)}
	}
	c.dialing++
	c.mu.Unlock()
	conn, err := dial(ctx, c.addr, &c.opts)
	c.mu.Lock()
	c.dialing--
	if err != nil {
		c.mu.Unlock()
		// Calls that found the pool full because of this dial wait for it
		// to end (errNoRoom): let them retry, or they wait until their
		// context ends although the pool has room again.
		c.wake(c.opts.PoolChannels)
		return nil, err
	}
	if c.closed {
		c.mu.Unlock()
		_ = conn.Close()
		return nil, ErrClosed
	}
	defer c.wake(c.opts.PoolChannels - 1) // others waiting for this dial
	defer c.mu.Unlock()
	c.conns = append(c.conns, conn)
	c.chans[conn] = 0
	if !dedicated {
		c.chans[conn]++
	}
	return conn, nil
}
