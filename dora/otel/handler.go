package doraotel

import (
	"context"
	"net"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/semconv/v1.37.0/rpcconv"
	"go.opentelemetry.io/otel/trace"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/metadata"
)

// Attribute keys dora adds to the semantic conventions' rpc.* set, as rpc.grpc.status_code
// does for gRPC.
const (
	// StatusCodeKey is the call's dora status code, an int (codes.Code).
	StatusCodeKey = attribute.Key("rpc.dora.status_code")
	// LegacyKey is true on server spans of calls from a legacy peer.
	LegacyKey = attribute.Key("rpc.dora.legacy")
)

// systemDora is rpc.system for every dora call.
var systemDora = semconv.RPCSystemKey.String("dora")

// other replaces names a peer chose (methods the server does not have).
const other = "_OTHER"

// handler is the client or the server StatsHandler.
type handler struct {
	client bool
	tracer trace.Tracer
	props  propagation.TextMapPropagator

	duration                metric.Float64Histogram
	reqSize, respSize       metric.Int64Histogram
	reqsPerRPC, respsPerRPC metric.Int64Histogram
}

// NewClientHandler returns the StatsHandler of a client, for dora.WithStats given to
// dora.NewClient: a client span per call (per attempt on a balanced client, whose
// per-server clients run the handler), the trace context injected into the call's
// metadata, and the rpc.client.* metrics.
func NewClientHandler(opts ...Option) dora.StatsHandler {
	c := newConfig(opts)
	h := &handler{client: true, tracer: c.tp.Tracer(ScopeName), props: c.props}
	m := c.mp.Meter(ScopeName)
	h.duration = must(rpcconv.NewClientDuration(m)).Inst()
	h.reqSize = must(rpcconv.NewClientRequestSize(m)).Inst()
	h.respSize = must(rpcconv.NewClientResponseSize(m)).Inst()
	h.reqsPerRPC = must(rpcconv.NewClientRequestsPerRPC(m)).Inst()
	h.respsPerRPC = must(rpcconv.NewClientResponsesPerRPC(m)).Inst()
	return h
}

// NewServerHandler returns the StatsHandler of a server, for dora.WithStats given to
// dora.NewServer: a server span per call, child of the client's span when the call's
// metadata carries a trace context, and the rpc.server.* metrics.
func NewServerHandler(opts ...Option) dora.StatsHandler {
	c := newConfig(opts)
	h := &handler{tracer: c.tp.Tracer(ScopeName), props: c.props}
	m := c.mp.Meter(ScopeName)
	h.duration = must(rpcconv.NewServerDuration(m)).Inst()
	h.reqSize = must(rpcconv.NewServerRequestSize(m)).Inst()
	h.respSize = must(rpcconv.NewServerResponseSize(m)).Inst()
	h.reqsPerRPC = must(rpcconv.NewServerRequestsPerRPC(m)).Inst()
	h.respsPerRPC = must(rpcconv.NewServerResponsesPerRPC(m)).Inst()
	return h
}

// must reports an instrument's creation error to OpenTelemetry's error handler; the
// instrument returned with an error is a no-op one, so the handler still works.
func must[T any](inst T, err error) T {
	if err != nil {
		otel.Handle(err)
	}
	return inst
}

// CallBegin starts the call's span; on the client it injects the span's context into the
// call's outgoing metadata, on the server it extracts the parent from the incoming metadata.
func (h *handler) CallBegin(ctx context.Context, info *dora.CallInfo) context.Context {
	name, service, method := names(info)
	attrs := []attribute.KeyValue{systemDora, semconv.RPCService(service), semconv.RPCMethod(method)}
	if h.client {
		md, _ := metadata.FromOutgoingContext(ctx)
		md = md.Copy() // shared with the caller's context
		if md == nil {
			md = metadata.MD{}
		}
		if !trace.SpanContextFromContext(ctx).IsValid() && len(md) > 0 {
			// No span in the caller's context, but maybe a trace context in its outgoing
			// metadata: a relay without OpenTelemetry (httpadapter) copied it from its own
			// request. It is the parent.
			ctx = h.props.Extract(ctx, carrier(md))
		}
		ctx, _ = h.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
		h.props.Inject(ctx, carrier(md))
		return metadata.NewOutgoingContext(ctx, md)
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		ctx = h.props.Extract(ctx, carrier(md))
	}
	if host, port, ok := hostPort(info.RemoteAddr); ok {
		attrs = append(attrs, semconv.NetworkPeerAddress(host), semconv.NetworkPeerPort(port))
	}
	if info.Legacy {
		attrs = append(attrs, LegacyKey.Bool(true))
	}
	ctx, _ = h.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	return ctx
}

// CallEnd ends the call's span and records the call's metrics.
func (h *handler) CallEnd(ctx context.Context, st *dora.CallStats) {
	_, service, method := names(st.CallInfo)
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(attrs, systemDora, semconv.RPCService(service), semconv.RPCMethod(method), StatusCodeKey.Int(int(st.Code)))
	if h.client {
		if host, port, ok := hostPort(st.RemoteAddr); ok {
			attrs = append(attrs, semconv.ServerAddress(host), semconv.ServerPort(port))
		}
	}
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(attrs[3:]...)
	if st.Code != codes.OK && (h.client || serverFault(st.Code)) {
		msg := st.Code.String()
		if st.Err != nil {
			msg = st.Err.Error()
		}
		span.SetStatus(otelcodes.Error, msg)
	}
	span.End()

	opt := metric.WithAttributes(attrs...)
	sent, recv := int64(st.BytesOut), int64(st.BytesIn)
	sentMsgs, recvMsgs := int64(st.MsgsOut), int64(st.MsgsIn)
	if !h.client {
		sent, recv, sentMsgs, recvMsgs = recv, sent, recvMsgs, sentMsgs
	}
	// From here on, "sent" is what the client sent (requests), "recv" what the server sent.
	h.duration.Record(ctx, float64(st.Duration)/1e6, opt)
	h.reqSize.Record(ctx, sent, opt)
	h.respSize.Record(ctx, recv, opt)
	h.reqsPerRPC.Record(ctx, sentMsgs, opt)
	h.respsPerRPC.Record(ctx, recvMsgs, opt)
}

// serverFault reports whether code means the server failed, which marks a server span as
// an error (the other codes are the client's problem).
func serverFault(c codes.Code) bool {
	switch c {
	case codes.Unknown, codes.DeadlineExceeded, codes.Unimplemented, codes.Internal, codes.Unavailable, codes.DataLoss:
		return true
	}
	return false
}

// names returns the span name, rpc.service and rpc.method of a call; "_OTHER" for all three
// when the server does not have the method (its name is whatever the peer sent).
func names(info *dora.CallInfo) (name, service, method string) {
	if info.Unknown {
		return other, other, other
	}
	name = strings.TrimPrefix(info.FullMethod, "/")
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name, name[:i], name[i+1:]
	}
	return name, "", name
}

// hostPort splits a peer address.
func hostPort(a net.Addr) (string, int, bool) {
	switch a := a.(type) {
	case nil:
		return "", 0, false
	case *net.TCPAddr:
		return a.IP.String(), a.Port, true
	}
	host, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return "", 0, false
	}
	port, _ := strconv.Atoi(p)
	return host, port, true
}

// carrier lets a propagator read and write dora metadata (lower-case keys, as the W3C
// header names are).
type carrier metadata.MD

func (c carrier) Get(key string) string { return metadata.MD(c).Get(key) }

func (c carrier) Set(key, value string) { metadata.MD(c).Set(key, value) }

func (c carrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
