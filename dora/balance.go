package dora

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/lbclient"
	"github.com/seed857a6cbd/pocket/nap"
)

// balancedRetries is how many times a balanced call that provably never reached its server
// (the server could not be dialed, refused the stream or went away without processing it,
// or all its sessions were at their stream limit) is moved to a newly picked server. A call that may have reached a server is
// never resent.
const balancedRetries = 2

// Target schemes that make NewClient build a balanced client (lbclient's syntax).
var balancedSchemes = []string{"lb:///", "dns:///", "srv:///", "file://"}

func isBalancedTarget(target string) bool {
	for _, s := range balancedSchemes {
		if strings.HasPrefix(target, s) {
			return true
		}
	}
	return false
}

// balancer is the state of a balanced Client: an lbclient.Balancer whose connection type is
// a per-server Client, shared by all calls to that server (lbclient.WithSharedClient, so
// closing the balancer closes busy per-server clients too, failing their calls).
type balancer struct {
	b      *lbclient.Balancer[*Client]
	opts   clientOptions // of the per-server clients: no interceptors
	target string
	closed atomic.Bool
}

// unsentError marks, on a per-server client, the error of a call that never reached the
// server: the balanced client moves the call to another server. It never leaves the package.
type unsentError struct{ err error }

func (e *unsentError) Error() string { return e.err.Error() }
func (e *unsentError) Unwrap() error { return e.err }

// plainErr strips the unsentError mark (for stats handlers, which see the user's error).
func plainErr(err error) error {
	if u, ok := err.(*unsentError); ok {
		return u.err
	}
	return err
}

// unsent marks err as a call that never reached the server when c is a per-server client.
func (c *Client) unsent(err error) error {
	if c.backend {
		return &unsentError{err}
	}
	return err
}

func newBalancedClient(target string, o clientOptions) (*Client, error) {
	lb := &balancer{opts: o, target: target}
	lb.opts.unaryInts, lb.opts.streamInts = nil, nil // they run once per call, on the balanced client
	lb.opts.balanced, lb.opts.lbOpts = false, nil
	all := make([]lbclient.Option, 0, 3+len(o.lbOpts))
	all = append(all, lbclient.WithSharedClient(), lbclient.WithBackendFailure(IsBackendFailure))
	if o.logger != nil {
		all = append(all, lbclient.WithLogger(o.logger))
	}
	all = append(all, o.lbOpts...)
	b, err := lbclient.New(target, lb.dial, all...)
	if err != nil {
		return nil, fmt.Errorf("dora: NewClient: %w", err)
	}
	lb.b = b
	c := newClient(target, o)
	c.lb = lb
	c.unary = chainUnaryClient(c.opts.unaryInts, c.invokeBalanced)
	c.streamer = chainStreamClient(c.opts.streamInts, c.newStreamBalanced)
	return c, nil
}

// dial is the balancer's Dialer: a per-server Client with its first session open, so that
// an unreachable server is a dial error (lbclient then tries another server).
func (lb *balancer) dial(ctx context.Context, addr string) (*Client, error) {
	c := newClient(addr, lb.opts)
	c.backend = true
	if err := c.connect(ctx); err != nil {
		c.Close()
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			// The caller's deadline ended the dial (the connection's I/O deadline can fire
			// just before ctx's timer): wait for ctx so that lbclient sees the caller's
			// doing, not a failure of the server (see IsBackendFailure on deadlines).
			<-ctx.Done()
			return nil, ctxStatus(ctx)
		}
		return nil, err
	}
	return c, nil
}

// pick leases a server's client for one call.
func (lb *balancer) pick(ctx context.Context, key string) (lbclient.Lease[*Client], error) {
	if lb.closed.Load() {
		return lbclient.Lease[*Client]{}, status.Wrap(codes.Canceled, ErrClientClosed)
	}
	l, err := lb.b.Pick(ctx, key)
	if err != nil {
		switch {
		case errors.Is(err, lbclient.ErrClosed):
			return l, status.Wrap(codes.Canceled, ErrClientClosed)
		case ctx.Err() != nil:
			return l, ctxStatus(ctx)
		}
		return l, status.Wrap(codes.Unavailable, fmt.Errorf("dora: %s: %w", lb.target, err))
	}
	return l, nil
}

// retry reports whether a call whose attempt failed with err (unwrapped into *out) should
// be moved to another server.
func (lb *balancer) retry(ctx context.Context, err error, attempt int, out *error) bool {
	u, ok := err.(*unsentError)
	if !ok {
		*out = err
		return false
	}
	*out = u.err
	return attempt < balancedRetries && ctx.Err() == nil && !lb.closed.Load()
}

// invokeBalanced is the unary call at the end of a balanced client's interceptor chain.
func (c *Client) invokeBalanced(ctx context.Context, method string, req, resp any, opts ...CallOption) error {
	ci := c.callInfo(opts)
	if ci.timeout > 0 { // bound the pick too
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ci.timeout)
		defer cancel()
		ci.timeout = 0
	}
	for attempt := 0; ; attempt++ {
		l, err := c.lb.pick(ctx, ci.hashKey)
		if err != nil {
			return err
		}
		err = l.Conn.invokeWith(ctx, method, req, resp, ci)
		if err == nil {
			l.Done(nil)
			return nil
		}
		again := c.lb.retry(ctx, err, attempt, &err)
		l.Done(err)
		if !again {
			return err
		}
	}
}

// newStreamBalanced opens a stream at the end of a balanced client's interceptor chain; the
// stream stays on the server it started on, which counts it as pending until it ends.
func (c *Client) newStreamBalanced(ctx context.Context, desc *StreamDesc, method string, opts ...CallOption) (ClientStream, error) {
	ci := c.callInfo(opts)
	var cancel context.CancelFunc
	if ci.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, ci.timeout)
		ci.timeout = 0
	}
	for attempt := 0; ; attempt++ {
		l, err := c.lb.pick(ctx, ci.hashKey)
		if err != nil {
			if cancel != nil {
				cancel()
			}
			return nil, err
		}
		cs, err := l.Conn.newStreamWith(ctx, desc, method, ci, l.Done)
		if err == nil {
			cs.cancel = cancel // released with the stream
			return cs, nil
		}
		again := c.lb.retry(ctx, err, attempt, &err)
		l.Done(err)
		if !again {
			if cancel != nil {
				cancel()
			}
			return nil, err
		}
	}
}

func (lb *balancer) close() error {
	if lb.closed.Swap(true) {
		return nil
	}
	return lb.b.Close() // stops its goroutines, closes every per-server client
}

// BackendStats returns, for a balanced client, a snapshot of every server in target order
// (address, weight, health, pending calls, successes, backend failures, ejections, latency
// EWMA; Conns is 1 while the server's client is open); nil for a single-target client.
func (c *Client) BackendStats() []lbclient.BackendStats {
	if c.lb == nil {
		return nil
	}
	return c.lb.b.Stats()
}

// Endpoints returns, for a balanced client, the current servers and weights in target
// order; nil for a single-target client.
func (c *Client) Endpoints() []lbclient.Endpoint {
	if c.lb == nil {
		return nil
	}
	return c.lb.b.Endpoints()
}

// IsBackendFailure is a balanced client's default classifier of call errors for server
// health (replace it with WithBalancer(lbclient.WithBackendFailure(f))). It reports true,
// counting the error toward ejecting the server, for what says the server cannot serve:
//
//   - Unavailable: the connection could not be opened or was lost, the server refused the
//     call while going away, or the handler itself answered Unavailable (shedding load);
//   - Internal caused by nap.ErrProtocol: the server broke the transport protocol.
//
// It reports false, leaving the server's health alone, for nil and everything else:
//
//   - application codes (NotFound, InvalidArgument, PermissionDenied, AlreadyExists,
//     FailedPrecondition, Unimplemented, Internal from a handler or a codec...): another
//     server would answer the same;
//   - ResourceExhausted: a message too large fails anywhere, and a server at its stream
//     limit is busy, not broken (the default least-pending picker already steers around it);
//   - Canceled: the caller gave up, or the client was closed;
//   - DeadlineExceeded: the deadline is the caller's budget, often what is left of an
//     upstream one, and it expires on healthy servers under load or when the budget was
//     short to begin with; counting it would eject every server under overload (the panic
//     threshold would then ignore health altogether). A dead server is found faster by
//     Unavailable, and a hung one by nap's keepalive (its session fails, calls then get
//     Unavailable); a slow one gets fewer calls from the least-pending picker.
func IsBackendFailure(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable:
		return true
	case codes.Internal:
		return errors.Is(err, nap.ErrProtocol)
	}
	return false
}
