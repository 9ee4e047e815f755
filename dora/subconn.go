package dora

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed857a6cbd/pocket/dora/codec"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/lbclient"
	"github.com/seed857a6cbd/pocket/nap"
)

// subConn is a Client's shared client of one server (grpc-go's SubConn): a few multiplexed
// nap sessions, dialed on demand with exponential backoff after failures. The Client's
// balancer makes one per server and closes it when the server leaves the set or the Client
// closes. Errors of calls that provably never reached the server are marked with
// lbclient.NotSent, so that the balancer moves them to another server.
type subConn struct {
	target string         // the server's host:port
	opts   *clientOptions // the Client's, defaults applied
	logger *slog.Logger

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

var _ lbclient.Connector = (*subConn)(nil)

// Close closes every session: calls in flight fail at once with Unavailable, later calls
// with Canceled (wrapping ErrClientClosed). Close is idempotent.
func (c *subConn) Close() error {
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

// openStream returns a new nap stream on a usable session, dialing when needed. Sessions
// refusing new streams (stream limit, GOAWAY, closed) are skipped: nap guarantees nothing
// reached the server then.
func (c *subConn) openStream(ctx context.Context, waitForReady bool) (*nap.Stream, error) {
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
				if ctx.Err() != nil { // the caller gave up: that is the call's outcome
					return nil, ctxStatus(ctx)
				}
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
			if ctx.Err() != nil { // the caller gave up: that is the call's outcome
				return nil, ctxStatus(ctx)
			}
			return nil, status.Wrap(codes.Unavailable, err)
		}
	}
}

// Connect implements lbclient.Connector, the balancer's recovery check of an ejected
// server: it returns nil when a usable session is open, else dials one now, whatever the
// reconnect backoff, bounded by ctx and the dial timeout (or waits for the dial already
// running).
func (c *subConn) Connect(ctx context.Context) error {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return status.Wrap(codes.Canceled, ErrClientClosed)
		}
		for _, s := range slices.Clone(c.sessions) {
			select {
			case <-s.Done():
				c.retireLocked(s)
			default:
			}
		}
		if len(c.sessions) > 0 {
			c.mu.Unlock()
			return nil
		}
		if ch := c.dialing; ch != nil {
			c.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		ch := make(chan struct{})
		c.dialing = ch
		c.mu.Unlock()
		err := c.dial(ctx)
		close(ch)
		return err
	}
}

// dial opens one session, bounded by parent and the dial timeout, and adds it; it ends the
// dialing state.
func (c *subConn) dial(parent context.Context) error {
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
func (c *subConn) backoff(n int) time.Duration {
	d := c.opts.backoffBase
	for i := 1; i < n && d < c.opts.backoffMax; i++ {
		d *= 2
	}
	d = min(d, c.opts.backoffMax)
	jitter := time.Duration(rand.Int64N(int64(d)/5*2+1)) - d/5
	return d + jitter
}

// publishLocked stores a copy of the usable sessions for the fast path.
func (c *subConn) publishLocked() {
	ss := slices.Clone(c.sessions)
	c.snap.Store(&ss)
}

// retireLocked moves sess out of the usable list; closed sessions are dropped, going-away
// ones are kept to be closed by Close.
func (c *subConn) retireLocked(sess *nap.Session) {
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

// invoke makes one unary call on this server with resolved call options (the Client applied
// the call's timeout). Errors of calls that never reached the server are marked with
// lbclient.NotSent.
func (c *subConn) invoke(ctx context.Context, method string, req, resp any, cip *callInfo) (err error) {
	ci := *cip
	if ci.lease != nil {
		ci.lease.buf = nil // an earlier call's buffer, not released: left to the collector
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
	tmo, err := timeoutUs(ctx)
	if err != nil {
		return err
	}
	st, reqLen, err := c.sendUnary(ctx, method, req, cdc, md, tmo, ci)
	if err != nil {
		return err
	}
	if cs != nil {
		cs.info.RemoteAddr = st.Session().RemoteAddr()
		cs.out(reqLen)
	}
	stop := func() bool { return false }
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { st.Reset(nap.CodeCancel) })
	}
	msg, err := st.Recv()
	stop()
	if err != nil {
		st.Close()
		if nap.IsRetryable(err) && ctx.Err() == nil {
			// The server went away (GOAWAY) without processing the stream: the
			// request never reached a handler. The balancer sends it again (lbclient's
			// one retry rule): on this server's next session when it is the only one,
			// else on another server.
			return lbclient.NotSent(callError(ctx, err))
		}
		return callError(ctx, err)
	}
	defer st.Close()
	cs.in(len(msg))
	var p pkg
	if err := decodePkg(msg, &p); err != nil {
		return status.Errorf(codes.Internal, "dora: %s response: %v", method, err)
	}
	compressed := false
	if enc, ok := p.meta.Lookup(MetaEncoding); ok && len(p.payload) > 0 {
		compressed = true
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
	// Under LeaseReply an uncompressed response may refer to msg (kept): the lease then
	// holds msg until the caller releases it. Otherwise codecs keep nothing of their
	// input: the message's memory goes back to nap's buffer pool for the next message
	// received.
	lease := ci.lease
	if lease != nil && compressed {
		lease = nil
	}
	kept, err := unmarshalAlias(cdc, p.payload, resp, lease != nil)
	if kept && err == nil {
		lease.buf = msg
	} else {
		st.Release(msg)
	}
	if err != nil {
		return status.Errorf(codes.Internal, "dora: decoding %s response: %v", method, err)
	}
	return nil
}

// sendUnary encodes a unary request, opens a stream and sends the request on it. A
// stream refused before the server saw it (GOAWAY, stream limit) returns an error marked
// lbclient.NotSent: the balancer sends the call again. It returns the stream and the
// request's size on the wire.
func (c *subConn) sendUnary(ctx context.Context, method string, req any, cdc codec.Codec, md metadata.MD, tmo uint64, ci callInfo) (*nap.Stream, int, error) {
	// The request buffers go back to the pool as soon as the request is sent (nap's Send
	// does not keep msg), not at the end of the call: with many callers waiting for their
	// responses, holding them would keep two pooled buffers per call in flight, and the
	// pool would allocate new ones whenever the number of calls in flight grows.
	payload := getBuf()
	var err error
	var tail []byte // a large bytes field of req, sent from req's memory (SendInPlace)
	if *payload, tail, err = marshalSplit(cdc, (*payload)[:0], req, c.opts.sendInPlace); err != nil {
		putBuf(payload)
		return nil, 0, status.Errorf(codes.Internal, "dora: encoding %s request: %v", method, err)
	}
	h := outHead{serializeType: cdc.Name(), seq: c.seq.Add(1), method: method, meta: md, timeoutUs: tmo}
	if ci.compressor != "" {
		*payload, tail = append(*payload, tail...), nil // compressed in one piece
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
	var body []byte
	*buf, body = appendPkgHeadSplit((*buf)[:0], &h, *payload, tail) // the envelope; the payload follows it (SendV)
	defer putBuf(payload)
	defer putBuf(buf)
	st, err := c.openStream(ctx, ci.waitForReady)
	if err != nil {
		return nil, 0, lbclient.NotSent(err)
	}
	if err = st.SendAndCloseV(*buf, body); err != nil {
		st.Close()
		if nap.IsRetryable(err) {
			return nil, 0, lbclient.NotSent(callError(ctx, err))
		}
		return nil, 0, callError(ctx, err)
	}
	return st, len(*buf) + len(body), nil
}

// plainErr strips lbclient's NotSent mark: stats handlers see the call's own error.
func plainErr(err error) error {
	if lbclient.IsNotSent(err) {
		return errors.Unwrap(err)
	}
	return err
}

// compressThreshold is the request size from which UseCompressor compresses.
func (c *subConn) compressThreshold() int {
	if c.opts.compressThreshold > 0 {
		return c.opts.compressThreshold
	}
	return DefaultCompressionThreshold
}
