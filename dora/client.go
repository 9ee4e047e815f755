package dora

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed857a6cbd/pocket/dora/codec"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/nap"
)

// ErrClientClosed is wrapped by the error of calls made after Client.Close (code Canceled).
var ErrClientClosed = errors.New("dora: client closed")

// Client calls services on one target ("127.0.0.1:7000") over a few multiplexed nap
// sessions. It dials lazily on the first call, opens another session only when every open
// one is at the server's stream limit (up to WithMaxConns), redials with exponential
// backoff after failures, and never retries a call that may have reached the server. It is
// safe for concurrent use by any number of goroutines; create one per target and share it.
//
// With a balanced target (lb:///, dns:///, srv:///, file://, or WithBalancer) the Client
// spreads its calls over many servers instead, one such per-server client each (see
// balance.go and the README).
type Client struct {
	target   string
	opts     clientOptions
	unary    UnaryInvoker
	streamer Streamer
	logger   *slog.Logger
	lb       *balancer // non-nil for a balanced client
	backend  bool      // a balanced client's per-server client: marks unsent errors

	seq  atomic.Uint64
	next atomic.Uint32                  // round-robin start
	snap atomic.Pointer[[]*nap.Session] // copy of sessions for the lock-free fast path

	mu       sync.Mutex
	sessions []*nap.Session // usable (not known to be going away)
	retired  []*nap.Session // going away: draining their calls
	dialing  chan struct{}  // non-nil while a dial runs; closed when it ends
	failures int            // consecutive failed dials
	nextDial time.Time      // no dial before this (backoff)
	lastErr  error          // last dial error
	closed   bool
}

// NewClient returns a client for target. A plain target is one server, "host:port"; the
// client does not dial: the first call does. A balanced target spreads calls over many
// servers with lbclient:
//
//	lb:///10.0.0.1:7000#2,10.0.0.2:7000#1   static list, weights 1-100 (no # means 1)
//	dns:///name:7000                         A/AAAA records, re-resolved periodically
//	srv:///_dora._tcp.name                   SRV records, re-resolved periodically
//	file:///path/to/backends                 a file in list syntax, watched
//
// WithBalancer or WithPicker make any target balanced, a list without scheme or a single
// host:port included. The error names what is wrong: an empty target, a plain target that
// is not host:port, a malformed list entry (wrapping lbclient.ErrBadTarget, naming the
// entry), an invalid balancer option (wrapping lbclient.ErrBadOption), or a dns:///,
// srv:/// or file:// target that does not resolve.
func NewClient(target string, opts ...ClientOption) (*Client, error) {
	if target == "" {
		return nil, errors.New("dora: NewClient: empty target")
	}
	var o clientOptions
	for _, opt := range opts {
		opt(&o)
	}
	tlsCfg, err := resolveTLS(o.tls, o.napTLS, "WithTLS", "WithNapConfig")
	if err != nil {
		return nil, fmt.Errorf("dora: NewClient: %w", err)
	}
	o.nap.TLSConfig, o.tls, o.napTLS = tlsCfg, nil, nil
	if o.balanced || isBalancedTarget(target) {
		return newBalancedClient(target, o)
	}
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("dora: NewClient: target %q is not host:port (a list of servers needs the lb:/// scheme or WithBalancer): %w", target, err)
	}
	return newClient(target, o), nil
}

// newClient builds a single-target client from resolved options.
func newClient(target string, o clientOptions) *Client {
	c := &Client{target: target, opts: o}
	if c.opts.maxConns < 1 {
		c.opts.maxConns = DefaultMaxConns
	}
	if c.opts.backoffBase <= 0 {
		c.opts.backoffBase = DefaultBackoffBase
	}
	if c.opts.backoffMax < c.opts.backoffBase {
		c.opts.backoffMax = max(DefaultBackoffMax, c.opts.backoffBase)
	}
	if c.opts.dialTimeout <= 0 {
		c.opts.dialTimeout = DefaultDialTimeout
	}
	c.logger = c.opts.logger
	if c.logger == nil {
		c.logger = slog.Default()
	}
	c.unary = chainUnaryClient(c.opts.unaryInts, c.invoke)
	c.streamer = chainStreamClient(c.opts.streamInts, c.newStream)
	return c
}

// Target returns the target given to NewClient.
func (c *Client) Target() string { return c.target }

// Close closes every session (of every server, for a balanced client): calls in flight fail
// at once with Unavailable, later calls with Canceled (wrapping ErrClientClosed). Close is
// idempotent.
func (c *Client) Close() error {
	if c.lb != nil {
		return c.lb.close()
	}
	c.mu.Lock()
	c.closed = true
	all := append(c.sessions, c.retired...)
	c.sessions, c.retired = nil, nil
	c.publishLocked()
	dialing := c.dialing
	c.mu.Unlock()
	for _, s := range all {
		s.Close()
	}
	if dialing != nil {
		<-dialing // the dialer sees closed and closes its session
	}
	return nil
}

// Invoke calls method ("/package.Service/Method") with req and decodes the answer into
// resp (both usually proto.Message, dynamicpb messages included; with the "raw" codec
// []byte / *[]byte). It returns nil or a status error (see package status).
func (c *Client) Invoke(ctx context.Context, method string, req, resp any, opts ...CallOption) error {
	return c.unary(ctx, method, req, resp, opts...)
}

// NewStream opens a streaming call of method described by desc. Generated clients call it.
// Read the stream until RecvMsg returns an error, or cancel ctx, to release it.
func (c *Client) NewStream(ctx context.Context, desc *StreamDesc, method string, opts ...CallOption) (ClientStream, error) {
	return c.streamer(ctx, desc, method, opts...)
}

func (c *Client) callInfo(opts []CallOption) callInfo {
	if len(c.opts.callOpts) == 0 && len(opts) == 0 {
		return callInfo{} // no allocation for the common case
	}
	ci := new(callInfo)
	for _, o := range c.opts.callOpts {
		o.apply(ci)
	}
	for _, o := range opts {
		o.apply(ci)
	}
	return *ci
}

// openStream returns a new nap stream on a usable session, dialing when needed. Sessions
// refusing new streams (stream limit, GOAWAY, closed) are skipped: nap guarantees nothing
// reached the server then.
func (c *Client) openStream(ctx context.Context, waitForReady bool) (*nap.Stream, error) {
	// Fast path without the client's lock: a session with room.
	if p := c.snap.Load(); p != nil && len(*p) > 0 {
		ss := *p
		start := int(c.next.Add(1))
		for i := range ss {
			if st, err := ss[(start+i)%len(ss)].OpenStream(ctx); err == nil {
				return st, nil
			}
		}
	}
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, status.Wrap(codes.Canceled, ErrClientClosed)
		}
		start := int(c.next.Add(1))
		for tried := 0; tried < len(c.sessions); {
			sess := c.sessions[(start+tried)%len(c.sessions)]
			st, err := sess.OpenStream(ctx)
			if err == nil {
				c.mu.Unlock()
				return st, nil
			}
			if ctx.Err() != nil {
				c.mu.Unlock()
				return nil, ctxStatus(ctx)
			}
			if errors.Is(err, nap.ErrStreamRefused) {
				tried++ // at the stream limit: try the next one
			} else {
				c.retireLocked(sess) // going away or closed: the list shrinks
			}
		}
		if len(c.sessions) >= c.opts.maxConns {
			c.mu.Unlock()
			return nil, status.Errorf(codes.ResourceExhausted,
				"dora: all %d sessions to %s are at the server's stream limit", c.opts.maxConns, c.target)
		}
		if c.dialing != nil {
			ch := c.dialing
			c.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, ctxStatus(ctx)
			}
		}
		if wait := time.Until(c.nextDial); wait > 0 {
			lastErr := c.lastErr
			c.mu.Unlock()
			if !waitForReady {
				return nil, status.Errorf(codes.Unavailable, "dora: %s unreachable, next dial in %v: %v", c.target, wait.Round(time.Millisecond), lastErr)
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
				continue
			case <-ctx.Done():
				t.Stop()
				return nil, ctxStatus(ctx)
			}
		}
		ch := make(chan struct{})
		c.dialing = ch
		c.mu.Unlock()
		err := c.dial(context.Background())
		close(ch)
		if err != nil && !waitForReady {
			return nil, status.Wrap(codes.Unavailable, err)
		}
	}
}

// connect dials the first session of a client that has none, bounded by ctx and the dial
// timeout; the balancer's Dialer uses it so that an unreachable server is a dial error.
func (c *Client) connect(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return status.Wrap(codes.Canceled, ErrClientClosed)
	}
	if len(c.sessions) > 0 || c.dialing != nil {
		c.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	c.dialing = ch
	c.mu.Unlock()
	err := c.dial(ctx)
	close(ch)
	return err
}

// dial opens one session, bounded by parent and the dial timeout, and adds it; it ends the
// dialing state.
func (c *Client) dial(parent context.Context) error {
	ctx, cancel := context.WithTimeout(parent, c.opts.dialTimeout)
	defer cancel()
	cfg := c.opts.nap
	sess, err := nap.Dial(ctx, "tcp", c.target, &cfg)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dialing = nil
	if err != nil {
		c.failures++
		c.lastErr = err
		c.nextDial = time.Now().Add(c.backoff(c.failures))
		c.logger.Debug("dora: dial failed", slog.String("target", c.target), slog.Any("err", err))
		return fmt.Errorf("dora: dial %s: %w", c.target, err)
	}
	if c.closed {
		sess.Close()
		return status.Wrap(codes.Canceled, ErrClientClosed)
	}
	c.failures, c.lastErr, c.nextDial = 0, nil, time.Time{}
	c.sessions = append(c.sessions, sess)
	c.publishLocked()
	return nil
}

// backoff returns the wait after the n-th consecutive failure: base*2^(n-1), at most max,
// with ±20% jitter.
func (c *Client) backoff(n int) time.Duration {
	d := c.opts.backoffBase
	for i := 1; i < n && d < c.opts.backoffMax; i++ {
		d *= 2
	}
	d = min(d, c.opts.backoffMax)
	jitter := time.Duration(rand.Int64N(int64(d)/5*2+1)) - d/5
	return d + jitter
}

// publishLocked stores a copy of the usable sessions for the fast path.
func (c *Client) publishLocked() {
	ss := slices.Clone(c.sessions)
	c.snap.Store(&ss)
}

// retireLocked moves sess out of the usable list; closed sessions are dropped, going-away
// ones are kept to be closed by Close.
func (c *Client) retireLocked(sess *nap.Session) {
	for i, s := range c.sessions {
		if s == sess {
			c.sessions = append(c.sessions[:i], c.sessions[i+1:]...)
			c.publishLocked()
			break
		}
	}
	kept := c.retired[:0]
	for _, s := range c.retired {
		select {
		case <-s.Done():
		default:
			kept = append(kept, s)
		}
	}
	c.retired = kept
	select {
	case <-sess.Done():
	default:
		c.retired = append(c.retired, sess)
	}
}

// ctxStatus is the status error for a call whose context ended.
func ctxStatus(ctx context.Context) error {
	return status.FromContextError(ctx.Err()).Err()
}

// callError turns a transport error of a call into a status error.
func callError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctxStatus(ctx)
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		// The server enforced the deadline (it resets the stream) before our own timer fired.
		return status.Error(codes.DeadlineExceeded, "dora: deadline exceeded")
	}
	var se *nap.StreamError
	switch {
	case errors.Is(err, nap.ErrMessageTooLarge):
		return status.Wrap(codes.ResourceExhausted, err)
	case errors.Is(err, nap.ErrProtocol):
		return status.Wrap(codes.Internal, err)
	case errors.As(err, &se) && se.Remote && se.Code == nap.CodeCancel:
		return status.Wrap(codes.Canceled, err)
	}
	return status.Wrap(codes.Unavailable, err)
}

// outgoingMD merges the context's outgoing metadata with the call's; it refuses reserved keys.
func outgoingMD(ctx context.Context, ci *callInfo) (metadata.MD, error) {
	md, _ := metadata.FromOutgoingContext(ctx)
	if len(ci.md) > 0 {
		if len(md) == 0 {
			md = ci.md
		} else {
			md = metadata.Join(md, ci.md)
		}
	}
	if err := checkUserMD(md); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return md, nil
}

// timeoutUs returns the microseconds left until ctx's deadline (0: none), or an error when
// it has passed.
func timeoutUs(ctx context.Context) (uint64, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0, nil
	}
	left := time.Until(dl)
	if left <= 0 {
		return 0, status.Error(codes.DeadlineExceeded, "dora: deadline exceeded before the call started")
	}
	return uint64(max(left/time.Microsecond, 1)), nil
}

func lookupCodec(name string) (codec.Codec, error) {
	if name == "" || name == codec.NameProto {
		return protoCodec, nil
	}
	cdc, err := codec.Lookup(name)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "dora: %v", err)
	}
	return cdc, nil
}

// invoke is the unary call at the end of the interceptor chain.
func (c *Client) invoke(ctx context.Context, method string, req, resp any, opts ...CallOption) error {
	return c.invokeWith(ctx, method, req, resp, c.callInfo(opts))
}

// invokeWith makes a unary call with resolved call options. On a balanced client's
// per-server client, errors of calls that never reached the server are *unsentError.
func (c *Client) invokeWith(ctx context.Context, method string, req, resp any, ci callInfo) (err error) {
	if ci.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ci.timeout)
		defer cancel()
	}
	var cs *callStats
	if len(c.opts.stats) > 0 {
		ctx, cs = beginStats(ctx, c.opts.stats, CallInfo{FullMethod: method, Client: true})
		defer func() { cs.end(ctx, status.Code(err), plainErr(err)) }()
	}
	cdc, err := lookupCodec(ci.codec)
	if err != nil {
		return err
	}
	md, err := outgoingMD(ctx, &ci)
	if err != nil {
		return err
	}
	var st *nap.Stream
	var msg []byte
	for try := 1; ; try++ {
		tmo, terr := timeoutUs(ctx) // again per attempt: the time left shrinks
		if terr != nil {
			return terr
		}
		var reqLen int
		if st, reqLen, err = c.sendUnary(ctx, method, req, cdc, md, tmo, ci); err != nil {
			return err
		}
		if cs != nil {
			cs.info.RemoteAddr = st.Session().RemoteAddr()
			cs.out(reqLen)
		}
		stop := func() bool { return false }
		if ctx.Done() != nil {
			cur := st
			stop = context.AfterFunc(ctx, func() { cur.Reset(nap.CodeCancel) })
		}
		msg, err = st.Recv()
		stop()
		if err == nil {
			break
		}
		st.Close()
		if nap.IsRetryable(err) && ctx.Err() == nil {
			// The server went away (GOAWAY) without processing the stream: the
			// request never reached a handler. A plain client sends it again on
			// another session, as grpc-go retries transparently; a balanced
			// client's per-server client lets the balancer move it to another server.
			if !c.backend && try < maxOpenAttempts {
				continue
			}
			return c.unsent(callError(ctx, err))
		}
		return callError(ctx, err)
	}
	defer st.Close()
	cs.in(len(msg))
	var p pkg
	if err := decodePkg(msg, &p); err != nil {
		return status.Errorf(codes.Internal, "dora: %s response: %v", method, err)
	}
	if enc, ok := p.meta.Lookup(MetaEncoding); ok && len(p.payload) > 0 {
		if enc != Gzip || ci.compressor == "" {
			return status.Errorf(codes.Internal, "dora: %s response compressed with %q, which the call did not accept", method, enc)
		}
		data, err := gunzip(p.payload, msgLimit(c.opts.nap))
		if errors.Is(err, ErrDecompressedTooLarge) {
			return status.Wrap(codes.ResourceExhausted, err)
		} else if err != nil {
			return status.Errorf(codes.Internal, "dora: %s response: %v", method, err)
		}
		p.payload = data
	}
	callErr := metaStatus(p.meta)
	if ci.header != nil || ci.trailer != nil {
		hdr, trl := p.headerTrailer()
		if ci.header != nil {
			*ci.header = hdr
		}
		if ci.trailer != nil {
			*ci.trailer = trl
		}
	}
	if callErr != nil {
		return callErr
	}
	if len(p.serializeType) > 0 && string(p.serializeType) != cdc.Name() {
		if cdc, err = lookupCodec(string(p.serializeType)); err != nil {
			return err
		}
	}
	err = cdc.Unmarshal(p.payload, resp)
	// Codecs keep nothing of their input: the message's memory goes back to nap's
	// buffer pool for the next message received.
	st.Release(msg)
	if err != nil {
		return status.Errorf(codes.Internal, "dora: decoding %s response: %v", method, err)
	}
	return nil
}

// sendUnary encodes a unary request, opens a stream and sends the request on it,
// trying another session when the first refuses the stream (GOAWAY, stream limit). It
// returns the stream and the request's size on the wire.
func (c *Client) sendUnary(ctx context.Context, method string, req any, cdc codec.Codec, md metadata.MD, tmo uint64, ci callInfo) (*nap.Stream, int, error) {
	// The request buffers go back to the pool as soon as the request is sent (nap's Send
	// does not keep msg), not at the end of the call: with many callers waiting for their
	// responses, holding them would keep two pooled buffers per call in flight, and the
	// pool would allocate new ones whenever the number of calls in flight grows.
	payload := getBuf()
	var err error
	if *payload, err = marshal(cdc, (*payload)[:0], req); err != nil {
		putBuf(payload)
		return nil, 0, status.Errorf(codes.Internal, "dora: encoding %s request: %v", method, err)
	}
	h := outHead{serializeType: cdc.Name(), seq: c.seq.Add(1), method: method, meta: md, timeoutUs: tmo}
	if ci.compressor != "" {
		if ci.compressor != Gzip {
			putBuf(payload)
			return nil, 0, status.Errorf(codes.Internal, "dora: unknown compressor %q (dora has %q)", ci.compressor, Gzip)
		}
		h.acceptEncoding = Gzip
		if len(*payload) >= c.compressThreshold() {
			z := getBuf()
			if *z, err = gzipAppend((*z)[:0], *payload); err != nil {
				putBuf(z)
				putBuf(payload)
				return nil, 0, status.Errorf(codes.Internal, "dora: compressing %s request: %v", method, err)
			}
			putBuf(payload)
			payload = z
			h.encoding = Gzip
		}
	}
	buf := getBuf()
	*buf = appendPkgHead((*buf)[:0], &h, len(*payload)) // the envelope; the payload follows it (SendV)
	defer putBuf(payload)
	defer putBuf(buf)
	for attempt := 1; ; attempt++ {
		st, err := c.openStream(ctx, ci.waitForReady && !c.backend)
		if err != nil {
			return nil, 0, c.unsent(err)
		}
		err = st.SendAndCloseV(*buf, *payload)
		if err == nil {
			return st, len(*buf) + len(*payload), nil
		}
		st.Close()
		if !nap.IsRetryable(err) {
			return nil, 0, callError(ctx, err)
		}
		if attempt == maxOpenAttempts {
			return nil, 0, c.unsent(callError(ctx, err))
		}
	}
}

// compressThreshold is the request size from which UseCompressor compresses.
func (c *Client) compressThreshold() int {
	if c.opts.compressThreshold > 0 {
		return c.opts.compressThreshold
	}
	return DefaultCompressionThreshold
}

// metaStatus returns the status error carried by a response's meta, nil for OK.
func metaStatus(meta metadata.MD) error {
	s, ok := meta.Lookup(MetaStatus)
	if !ok || s == "0" || s == "" {
		return nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return status.Errorf(codes.Internal, "dora: malformed %s %q in response", MetaStatus, s)
	}
	if n == 0 {
		return nil
	}
	if d, ok := meta.Lookup(MetaDetails); ok {
		details, err := decodeDetails(d)
		if err != nil {
			return status.Errorf(codes.Internal, "dora: malformed status details in response (status %d: %q): %v", n, meta.Get(MetaMessage), err)
		}
		return status.FromAny(codes.Code(n), meta.Get(MetaMessage), details).Err()
	}
	return status.Error(codes.Code(n), meta.Get(MetaMessage))
}

// userMeta returns meta without the reserved keys (nil when none are left).
func userMeta(meta metadata.MD) metadata.MD {
	for k := range meta {
		if metadata.IsReserved(k) {
			delete(meta, k)
		}
	}
	if len(meta) == 0 {
		return nil
	}
	return meta
}
