package dora

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/seed857a6cbd/pocket/dora/codec"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/lbclient"
	"github.com/seed857a6cbd/pocket/nap"
)

// ErrClientClosed is wrapped by the error of calls made after Client.Close (code Canceled).
var ErrClientClosed = errors.New("dora: client closed")

// Client calls services on one server ("127.0.0.1:7000") or on many (a balanced target). It
// is safe for concurrent use by any number of goroutines; create one per target and share it.
//
// A Client is an lbclient balancer over one shared per-server client each (subConn, see
// subconn.go): a plain host:port target is a set of one. Each per-server client keeps a few
// multiplexed nap sessions: it dials lazily on the first call, opens another session only
// when every open one is at the server's stream limit (up to WithMaxConns), and redials with
// exponential backoff after failures. A call that provably never reached its server is moved
// to another server (lbclient's rule); a call that may have reached one is never resent.
type Client struct {
	target   string
	opts     clientOptions
	unary    UnaryInvoker
	streamer Streamer
	lb       *lbclient.Balancer[*subConn]
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
// WithBalancer or WithPicker make any target a list, one without scheme or a single
// host:port included. Both forms are the same client: a plain target is a list of one
// server, with lbclient's health and recovery (see WithBalancer). The error names what is
// wrong: an empty target, a plain target that is not host:port, a malformed list entry
// (wrapping lbclient.ErrBadTarget, naming the entry), an invalid balancer option (wrapping
// lbclient.ErrBadOption), WithNapConfig given a TLSConfig (wrapping ErrNapConfigTLS: TLS
// is set with WithTLS), or a dns:///, srv:/// or file:// target that does not resolve.
// opts are the Options (WithTLS, WithNapConfig, WithLogger, WithStats,
// WithCompressionThreshold) and the ClientOptions; nil ones are ignored.
func NewClient(target string, opts ...ClientOption) (*Client, error) {
	if target == "" {
		return nil, errors.New("dora: NewClient: empty target")
	}
	var o clientOptions
	for _, opt := range opts {
		if opt != nil {
			opt.applyClient(&o)
		}
	}
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("dora: NewClient: %w", err)
	}
	o.nap.TLSConfig = o.tls // WithTLS: nap dials TLS with it
	if !o.balanced && !isBalancedTarget(target) {
		if _, _, err := net.SplitHostPort(target); err != nil {
			return nil, fmt.Errorf("dora: NewClient: target %q is not host:port (a list of servers needs the lb:/// scheme or WithBalancer): %w", target, err)
		}
	}
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
	if c.opts.logger == nil {
		c.opts.logger = slog.Default()
	}
	all := make([]lbclient.Option, 0, 2+len(o.lbOpts))
	all = append(all, lbclient.WithBackendFailure(IsBackendFailure), lbclient.WithLogger(c.opts.logger))
	all = append(all, o.lbOpts...)
	lb, err := lbclient.New(target, c.newSubConn, all...)
	if err != nil {
		return nil, fmt.Errorf("dora: NewClient: %w", err)
	}
	c.lb = lb
	c.unary = chainUnaryClient(c.opts.unaryInts, c.invoke)
	c.streamer = chainStreamClient(c.opts.streamInts, c.newStream)
	return c, nil
}

// newSubConn is the balancer's NewClientFunc: the per-server client of addr, which dials on
// its first call.
func (c *Client) newSubConn(addr string) (*subConn, error) {
	return &subConn{target: addr, opts: &c.opts, logger: c.opts.logger}, nil
}

// Target returns the target given to NewClient.
func (c *Client) Target() string { return c.target }

// Close closes every session of every server: calls in flight fail at once with
// Unavailable, later calls with Canceled (wrapping ErrClientClosed). Close is idempotent.
func (c *Client) Close() error {
	return c.lb.Close() // stops its goroutines, closes every per-server client
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
	if len(c.opts.callOpts) == 0 && len(opts) == 1 {
		if o, ok := opts[0].(leaseOption); ok {
			return callInfo{lease: o.l} // LeaseReply alone: no allocation either
		}
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

// invoke is the unary call at the end of the interceptor chain: lbclient picks a server
// and moves the call to another one while it provably never reached its server.
func (c *Client) invoke(ctx context.Context, method string, req, resp any, opts ...CallOption) error {
	ci := c.callInfo(opts)
	if ci.timeout > 0 { // bound the pick and every attempt
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ci.timeout)
		defer cancel()
		ci.timeout = 0
	}
	err := c.lb.Do(ctx, ci.hashKey, func(ctx context.Context, sc *subConn) error {
		return sc.invoke(ctx, method, req, resp, &ci)
	})
	if err != nil {
		return c.lbError(ctx, err)
	}
	return nil
}

// newStream opens a stream at the end of the interceptor chain; the stream stays on the
// server it started on, which counts it as pending until it ends.
func (c *Client) newStream(ctx context.Context, desc *StreamDesc, method string, opts ...CallOption) (ClientStream, error) {
	ci := c.callInfo(opts)
	var cancel context.CancelFunc
	if ci.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, ci.timeout)
		ci.timeout = 0
	}
	var cs *clientStream
	err := c.lb.Begin(ctx, ci.hashKey, func(ctx context.Context, sc *subConn, done func(error)) error {
		var err error
		cs, err = sc.newStream(ctx, desc, method, ci, done)
		return err
	})
	if err != nil {
		if cancel != nil {
			cancel()
		}
		return nil, c.lbError(ctx, err)
	}
	cs.cancel = cancel // released with the stream
	return cs, nil
}

// lbError turns the balancer's own errors into status errors; the calls' errors already are.
func (c *Client) lbError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, lbclient.ErrClosed):
		return status.Wrap(codes.Canceled, ErrClientClosed)
	case errors.Is(err, lbclient.ErrNoBackends):
		if ctx.Err() != nil {
			return ctxStatus(ctx)
		}
		return status.Wrap(codes.Unavailable, fmt.Errorf("dora: %s: %w", c.target, err))
	}
	if _, ok := status.FromError(err); !ok {
		return status.Wrap(codes.Unavailable, fmt.Errorf("dora: %s: %w", c.target, err))
	}
	return err
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
