// Package doraotel is OpenTelemetry tracing and metrics for dora calls: a client and a server
// dora.StatsHandler that start a span per call with the RPC semantic-convention attributes,
// carry the W3C trace context in the call's metadata, and record the standard RPC metrics.
//
//	srv := dora.NewServer(dora.WithStats(doraotel.NewServerHandler()))
//	client, err := dora.NewClient(addr, dora.WithStats(doraotel.NewClientHandler()))
//
// Both use the global TracerProvider and MeterProvider (otel.SetTracerProvider,
// otel.SetMeterProvider) unless given WithTracerProvider and WithMeterProvider, and the W3C
// trace-context and baggage propagators unless given WithPropagators.
//
// # Spans
//
// A client span (kind Client) and a server span (kind Server) per call, named
// "package.Service/Method", with these attributes (semantic conventions v1.37.0):
//
//	rpc.system            "dora"
//	rpc.service           "package.Service"
//	rpc.method            "Method"
//	rpc.dora.status_code  the call's status code as an int (0 is OK)
//	server.address, server.port              client spans: the server the call reached
//	network.peer.address, network.peer.port  server spans: the client
//	rpc.dora.legacy       server spans of calls from legacy peers: true
//
// A client span's status is Error for any code but OK; a server span's only for codes that
// mean a fault of the server (Unknown, DeadlineExceeded, Unimplemented, Internal,
// Unavailable, DataLoss), as for gRPC. The server span is a child of the client's when the
// client propagated its context; a call to a method the server does not have gets a span
// named "_OTHER" with rpc.service and rpc.method "_OTHER", so a peer cannot create spans or
// metric series with names of its choosing.
//
// # Propagation
//
// The client handler injects the span context into the call's outgoing metadata (the
// "traceparent" and "tracestate" keys, and "baggage"); the server handler extracts it from
// the incoming metadata. Any relay that copies these keys continues the trace: when the
// caller's context holds no span but its outgoing metadata holds a trace context (a relay
// without OpenTelemetry put it there; httpadapter copies the HTTP headers of the same
// names), that trace context is the client span's parent. Metadata given with the
// dora.WithMetadata call option is sent after the handler's and wins: do not put these keys
// there.
//
// # Metrics
//
// Per call, with the attributes rpc.system, rpc.service, rpc.method and rpc.dora.status_code
// (and server.address, server.port on the client):
//
//	rpc.client.duration, rpc.server.duration                 ms, the call's wall time
//	rpc.client.request.size, rpc.server.request.size         By, bytes the client sent (a stream's total)
//	rpc.client.response.size, rpc.server.response.size       By, bytes the server sent (a stream's total)
//	rpc.client.requests_per_rpc, rpc.server.requests_per_rpc     messages the client sent
//	rpc.client.responses_per_rpc, rpc.server.responses_per_rpc   messages the server sent
//
// Sizes are whole dora Pkgs (head and payload, dora.CallStats' BytesIn and BytesOut); for a
// stream they are the sum over its messages, since dora's stats hook reports a call once.
// Message counts include a stream's OPEN and trailer Pkgs.
package doraotel
