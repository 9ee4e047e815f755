package dora

import (
	"errors"
	"strings"

	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/lbclient"
	"github.com/seed857a6cbd/pocket/nap"
)

// Target schemes of server lists (lbclient's syntax); other targets are one host:port.
var balancedSchemes = []string{"lb:///", "dns:///", "srv:///", "file://"}

func isBalancedTarget(target string) bool {
	for _, s := range balancedSchemes {
		if strings.HasPrefix(target, s) {
			return true
		}
	}
	return false
}

// BackendStats returns a snapshot of every server in target order (address, weight,
// health, pending calls, successes, backend failures, ejections, latency EWMA); a plain
// host:port target has one.
func (c *Client) BackendStats() []lbclient.BackendStats {
	return c.lb.Stats()
}

// Endpoints returns the current servers and weights in target order; a plain host:port
// target has one.
func (c *Client) Endpoints() []lbclient.Endpoint {
	return c.lb.Endpoints()
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
