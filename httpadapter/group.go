package httpadapter

import (
	"context"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/iip"
	"github.com/seed857a6cbd/pocket/lbclient"
)

// IIPGroup is a backend group of IIP servers: an lbclient balancer holding one shared
// *iip.Client (a pool of connections and channels) per server. It implements IIPBackend.
// Safe for concurrent use.
type IIPGroup struct {
	b *lbclient.Balancer[*iip.Client]
}

// NewIIPGroup balances over the IIP servers of target, in lbclient syntax
// ("10.0.0.1:9090#2,10.0.0.2:9090", "dns:///host:port", "file:///path"). opts configure
// each server's client (nil: iip defaults). lbOpts are applied after the group's own:
// lbclient.WithSharedClient() and a failure classifier under which an IIP error response
// (the application's answer) does not count against a backend, except error 107 (server
// connection limit). A malformed target is an error wrapping lbclient.ErrBadTarget.
func NewIIPGroup(target string, opts *iip.Options, lbOpts ...lbclient.Option) (*IIPGroup, error) {
	dial := func(ctx context.Context, addr string) (*iip.Client, error) {
		return iip.NewClientContext(ctx, addr, opts)
	}
	all := append([]lbclient.Option{lbclient.WithSharedClient(), lbclient.WithBackendFailure(isIIPBackendFailure)}, lbOpts...)
	b, err := lbclient.New(target, dial, all...)
	if err != nil {
		return nil, err
	}
	return &IIPGroup{b: b}, nil
}

// Do sends data to path on one server of the group, picked by the balancer (by
// HashKeyFromContext(ctx) with lbclient.PickHash).
func (g *IIPGroup) Do(ctx context.Context, path string, data []byte) ([]byte, error) {
	var resp []byte
	err := g.b.Do(ctx, HashKeyFromContext(ctx), func(ctx context.Context, c *iip.Client) error {
		var err error
		resp, err = c.Do(ctx, path, data)
		return err
	})
	return resp, err
}

// Balancer returns the underlying balancer (Stats, Endpoints, Refresh).
func (g *IIPGroup) Balancer() *lbclient.Balancer[*iip.Client] { return g.b }

// Close closes the balancer and every client; later calls fail with lbclient.ErrClosed.
func (g *IIPGroup) Close() error { return g.b.Close() }

// DoraConn is where dora calls go: *dora.Client and *DoraGroup implement it (it is the unary
// half of dora.ClientConnInterface).
type DoraConn interface {
	Invoke(ctx context.Context, method string, req, resp any, opts ...dora.CallOption) error
}

// DoraGroup is a backend group of dora servers: an lbclient balancer holding one shared
// *dora.Client per server. It implements DoraConn. Safe for concurrent use.
type DoraGroup struct {
	b *lbclient.Balancer[*dora.Client]
}

// NewDoraGroup balances over the dora servers of target, in lbclient syntax. clientOpts
// configure each server's client. lbOpts are applied after the group's own:
// lbclient.WithSharedClient() and a failure classifier under which only Unavailable (and
// errors that are not dora statuses) count against a backend. A malformed target is an
// error wrapping lbclient.ErrBadTarget.
func NewDoraGroup(target string, clientOpts []dora.ClientOption, lbOpts ...lbclient.Option) (*DoraGroup, error) {
	dial := func(_ context.Context, addr string) (*dora.Client, error) {
		return dora.NewClient(addr, clientOpts...)
	}
	all := append([]lbclient.Option{lbclient.WithSharedClient(), lbclient.WithBackendFailure(isDoraBackendFailure)}, lbOpts...)
	b, err := lbclient.New(target, dial, all...)
	if err != nil {
		return nil, err
	}
	return &DoraGroup{b: b}, nil
}

// Invoke calls method on one server of the group, picked by the balancer (by
// HashKeyFromContext(ctx) with lbclient.PickHash). A balancer error (closed, no backend)
// is returned as an Unavailable status.
func (g *DoraGroup) Invoke(ctx context.Context, method string, req, resp any, opts ...dora.CallOption) error {
	called := false
	err := g.b.Do(ctx, HashKeyFromContext(ctx), func(ctx context.Context, c *dora.Client) error {
		called = true
		return c.Invoke(ctx, method, req, resp, opts...)
	})
	if err != nil && !called {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return status.FromContextError(ctxErr).Err()
		}
		return status.Wrap(codes.Unavailable, err)
	}
	return err
}

// Balancer returns the underlying balancer (Stats, Endpoints, Refresh).
func (g *DoraGroup) Balancer() *lbclient.Balancer[*dora.Client] { return g.b }

// Close closes the balancer and every client.
func (g *DoraGroup) Close() error { return g.b.Close() }

func isDoraBackendFailure(err error) bool {
	if s, ok := status.FromError(err); ok {
		return s.Code() == codes.Unavailable
	}
	return lbclient.IsBackendFailure(err)
}
