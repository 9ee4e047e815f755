package iip

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/seed857a6cbd/pocket/lbclient"
)

// LoadBalanceClient spreads IIP calls over many servers. It is a thin
// adapter over lbclient: each backend has one pooled *Client shared by every
// call (so PoolConns × PoolChannels calls run at once per backend), connecting
// on its first call; a picker chooses the backend of each call; backends that
// fail repeatedly are ejected with exponential backoff and tried again with a
// single call (at once when a backend seen down accepts connections again);
// and a call whose request provably never left is sent again by the balancer
// (on another backend when there is one); the backends' pools do not resend.
// It is safe for concurrent use.
type LoadBalanceClient struct {
	b        *lbclient.Balancer[*Client]
	copts    clientOptions
	hash     bool
	param    string
	classify func(error) bool
}

// NewLoadBalanceClient returns a client balancing calls over the servers of
// target, in lbclient syntax:
//
//	host:port#weight,...        static list, weights 1-100, no # means 1
//	dns:///host:port[#weight]   A/AAAA records, re-resolved periodically
//	srv:///_iip._tcp.name       SRV records, re-resolved periodically
//	file:///path                a file in target syntax, watched
//
// Static lists may be written as deployed IIP configurations write them,
// ":9090#1,:9090#1,:9090#1": an empty host is localhost and a repeated
// address adds its weight to the first entry of that address (one backend,
// one pooled Client, three times the share of calls); see
// lbclient.ParseTarget. A malformed target is an error wrapping
// lbclient.ErrBadTarget that names the entry; an invalid lbclient option
// (WithBalancer) or WithHashQueryParam without lbclient.PickHash is an error
// wrapping lbclient.ErrBadOption; an invalid Config or client option, one
// wrapping ErrInvalidConfig. opts configure each backend's pooled Client
// (WithConfig, WithTLS, WithPool...) and the balancer (WithPicker,
// WithHashQueryParam, WithBackendFailure, WithBalancer).
// It does not wait for the servers: connections open on first use, so an
// unreachable server shows in Do's errors and in Stats.
func NewLoadBalanceClient(target string, opts ...ClientOption) (*LoadBalanceClient, error) {
	o, err := newClientOptions(opts)
	if err != nil {
		return nil, err
	}
	hash := o.picker == lbclient.PickHash
	if o.hashQueryParam != "" && !hash {
		return nil, fmt.Errorf("iip: balanced client: %w: WithHashQueryParam(%q) needs WithPicker(lbclient.PickHash), not %v",
			lbclient.ErrBadOption, o.hashQueryParam, o.picker)
	}
	lb := &LoadBalanceClient{
		copts:    o,
		hash:     hash,
		param:    o.hashQueryParam,
		classify: o.classify,
	}
	all := make([]lbclient.Option, 0, 3+len(o.lbOpts))
	all = append(all, lbclient.WithPicker(o.picker), lbclient.WithBackendFailure(o.classify), lbclient.WithLogger(o.Logger))
	all = append(all, o.lbOpts...)
	b, err := lbclient.New(target, lb.newBackend, all...)
	if err != nil {
		return nil, fmt.Errorf("iip: balanced client: %w", err)
	}
	lb.b = b
	return lb, nil
}

// newBackend is the balancer's NewClientFunc: a backend's pooled Client, which
// dials on its first call and replaces broken connections.
func (lb *LoadBalanceClient) newBackend(addr string) (*Client, error) {
	c := newClient(addr, lb.copts)
	c.notSentRetries = 0 // the balancer sends such calls again (lbclient's one retry rule)
	return c, nil
}

// Do sends data to path on a backend chosen by the picker and waits for the
// response, like Client.Do: the context's deadline is the timeout, an error
// response is returned as an *Error (errors.Is(err, ErrNoHandler) ...), a
// broken connection as an error wrapping ErrConnLost. With lbclient.PickHash
// the key is WithHashKey's, else the WithHashQueryParam value of path.
//
// Each call's outcome is recorded against its backend as IsBackendFailure
// (or the configured classifier) decides. A call whose request provably
// never reached its backend is sent to another pick (lbclient.WithPickAttempts
// in WithBalancer, default lbclient.DefaultPickAttempts picks in all); a
// call that was sent is never resent. Errors of the balancer itself:
// lbclient.ErrNoBackends when the target resolved to no server and ErrClosed
// after Close; when no picked server could be reached, the last dial error,
// naming the address.
func (lb *LoadBalanceClient) Do(ctx context.Context, path string, data []byte) ([]byte, error) {
	resp, _, err := lb.do(ctx, path, data, false)
	return resp, err
}

// DoAppend is Do that appends the response to dst and returns the extended
// slice (dst unchanged on error); see Client.DoAppend.
func (lb *LoadBalanceClient) DoAppend(ctx context.Context, path string, data, dst []byte) ([]byte, error) {
	resp, pb, err := lb.do(ctx, path, data, true)
	return appendResponse(dst, resp, pb, err)
}

func (lb *LoadBalanceClient) do(ctx context.Context, path string, data []byte, pooled bool) (resp []byte, pb *[]byte, err error) {
	if err := ctx.Err(); err != nil {
		// Not the backends' fault: do not let it count against one.
		return nil, nil, fmt.Errorf("iip: %s: %w", path, err)
	}
	key := ""
	if lb.hash {
		key = lb.hashKey(ctx, path)
	}
	err = lb.b.Do(ctx, key, func(ctx context.Context, c *Client) error {
		var sent bool
		var err error
		resp, pb, sent, err = c.call(ctx, path, data, pooled)
		if err != nil && !sent && lb.classify(err) {
			return lbclient.NotSent(err) // lbclient sends it again (another backend when there is one)
		}
		return err
	})
	switch {
	case err == nil:
	case errors.Is(err, lbclient.ErrClosed):
		return nil, nil, ErrClosed
	case errors.Is(err, lbclient.ErrNoBackends):
		return nil, nil, fmt.Errorf("iip: %s: %w", path, err)
	}
	return resp, pb, err
}

// Stats returns a snapshot of every backend, in target order: address,
// weight, health, pending calls, successes (application errors included),
// backend failures, ejections and latency EWMA.
func (lb *LoadBalanceClient) Stats() []lbclient.BackendStats { return lb.b.Stats() }

// Close stops the balancer and closes every backend's Client: calls in
// flight fail with ErrClosed (as with Client.Close) and later calls return
// ErrClosed. Close is idempotent and returns nil.
func (lb *LoadBalanceClient) Close() error {
	return lb.b.Close() // stops its goroutines, closes every backend's Client
}

// hashKeyCtx is the context key of WithHashKey.
type hashKeyCtx struct{}

// WithHashKey returns a context carrying key as the hash key of a
// LoadBalanceClient call made with it (use the client's IP address to keep
// each client on one server). It takes precedence over WithHashQueryParam and
// is ignored unless the picker is WithPicker(lbclient.PickHash). An empty key picks a
// random backend.
func WithHashKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, hashKeyCtx{}, key)
}

// hashKeyFromContext returns the key set with WithHashKey, if any.
func hashKeyFromContext(ctx context.Context) (string, bool) {
	k, ok := ctx.Value(hashKeyCtx{}).(string)
	return k, ok
}

func (lb *LoadBalanceClient) hashKey(ctx context.Context, path string) string {
	if k, ok := hashKeyFromContext(ctx); ok {
		return k
	}
	if lb.param == "" {
		return ""
	}
	return queryParam(path, lb.param)
}

// queryParam returns the unescaped value of the first name parameter of
// path's query string, as url.ParseQuery would, without allocating when
// nothing needs unescaping; "" when absent.
func queryParam(path, name string) string {
	_, q, ok := strings.Cut(path, "?")
	if !ok {
		return ""
	}
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k != name {
			if !strings.ContainsAny(k, "%+") {
				continue
			}
			if uk, err := url.QueryUnescape(k); err != nil || uk != name {
				continue
			}
		}
		if strings.ContainsAny(v, "%+") {
			if uv, err := url.QueryUnescape(v); err == nil {
				return uv
			}
		}
		return v
	}
	return ""
}

// IsBackendFailure is the default classifier of LoadBalanceClient call
// errors. It reports true, counting the error toward ejecting the backend,
// for what says the backend cannot serve calls:
//
//   - a connection lost or refused, a dial, TLS or handshake error, an error
//     wrapping ErrConnLost or ErrProtocol (the server broke the protocol);
//   - error responses that refuse capacity before any handler ran: 106
//     ErrChannelLimit, 107 ErrServerConnLimit, 108 ErrClientConnLimit;
//   - the call's own deadline passing (context.DeadlineExceeded): the backend
//     did not answer in time, and a hung server is only found that way
//     (existing servers have no keepalive).
//
// It reports false for nil and for everything that is the application's
// answer or the caller's doing, which leaves the backend's health alone:
//
//   - every other error response: 100 ErrPacketContinue, 101 ErrNoResponse,
//     102 ErrHandler, 103 ErrTimeout (the server answered; its handler's own
//     time limit is the application's policy and would hit any backend), 104
//     ErrUnknown, 105 ErrNoHandler;
//   - context.Canceled (the caller gave up), ErrClosed (the client was
//     closed), ErrBadPath and ErrMessageTooLarge (the request or response
//     does not fit, wherever it goes).
func IsBackendFailure(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		switch e.Code {
		case CodeChannelLimit, CodeServerConnLimit, CodeClientConnLimit:
			return true
		}
		return false
	}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, ErrClosed),
		errors.Is(err, ErrBadPath), errors.Is(err, ErrMessageTooLarge):
		return false
	}
	return true
}
