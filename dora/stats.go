package dora

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/seed857a6cbd/pocket/dora/codes"
)

// CallInfo describes a call to a StatsHandler.
type CallInfo struct {
	// FullMethod is "/package.Service/Method" (on the server: the resolved name, also for
	// legacy bare names; the raw name when unknown).
	FullMethod string
	// Client is true on the client side.
	Client bool
	// ClientStream and ServerStream tell the kind of method (both false: unary).
	ClientStream, ServerStream bool
	// Unknown is true on the server when FullMethod is not a registered method (the call
	// fails with Unimplemented): FullMethod is then whatever the peer sent, so observers
	// should not use it as a metric label or span name.
	Unknown bool
	// Legacy is true on the server for calls from a legacy peer.
	Legacy bool
	// RemoteAddr is the peer's address (nil on the client when no session was reached).
	RemoteAddr net.Addr
	// Begin is when the call started.
	Begin time.Time
}

// CallStats is the outcome of a call.
type CallStats struct {
	*CallInfo
	// Code is the call's status code.
	Code codes.Code
	// Err is the call's error (nil when Code is OK).
	Err error
	// Duration is the call's wall time.
	Duration time.Duration
	// BytesIn and BytesOut count whole Pkg bytes received and sent (head + payload, not
	// nap framing).
	BytesIn, BytesOut int
	// MsgsIn and MsgsOut count Pkgs received and sent.
	MsgsIn, MsgsOut int
}

// StatsHandler observes calls, for metrics (Prometheus) or tracing (OpenTelemetry). Both
// methods are called on the call's goroutine and must be fast and safe for concurrent use.
type StatsHandler interface {
	// CallBegin is called when a call starts; the values of the returned context are
	// visible to the rest of the call (on the server: the handler's context; its
	// cancellation is not used there) and it is given to CallEnd. On the client, outgoing
	// metadata added to the returned context is sent with the call; on the server, ctx
	// already carries the call's incoming metadata (metadata.FromIncomingContext). Return
	// ctx unchanged when not needed; start a span here, for example.
	CallBegin(ctx context.Context, info *CallInfo) context.Context
	// CallEnd is called once when the call is over.
	CallEnd(ctx context.Context, stats *CallStats)
}

// callStats accumulates a call's stats; nil when no handler is configured. The counters are
// atomic: a stream's sending and receiving goroutines update them concurrently.
type callStats struct {
	handlers          []StatsHandler
	info              CallInfo
	stats             CallStats
	bytesIn, bytesOut atomic.Int64
	msgsIn, msgsOut   atomic.Int64
	ended             atomic.Bool
}

func beginStats(ctx context.Context, hs []StatsHandler, info CallInfo) (context.Context, *callStats) {
	if len(hs) == 0 {
		return ctx, nil
	}
	cs := &callStats{handlers: hs, info: info}
	cs.info.Begin = time.Now()
	cs.stats.CallInfo = &cs.info
	for _, h := range hs {
		ctx = h.CallBegin(ctx, &cs.info)
	}
	return ctx, cs
}

func (cs *callStats) in(n int) {
	if cs != nil {
		cs.bytesIn.Add(int64(n))
		cs.msgsIn.Add(1)
	}
}

func (cs *callStats) out(n int) {
	if cs != nil {
		cs.bytesOut.Add(int64(n))
		cs.msgsOut.Add(1)
	}
}

func (cs *callStats) end(ctx context.Context, code codes.Code, err error) {
	if cs == nil || cs.ended.Swap(true) {
		return
	}
	cs.stats.BytesIn, cs.stats.BytesOut = int(cs.bytesIn.Load()), int(cs.bytesOut.Load())
	cs.stats.MsgsIn, cs.stats.MsgsOut = int(cs.msgsIn.Load()), int(cs.msgsOut.Load())
	cs.stats.Code = code
	cs.stats.Err = err
	cs.stats.Duration = time.Since(cs.info.Begin)
	for _, h := range cs.handlers {
		h.CallEnd(ctx, &cs.stats)
	}
}
