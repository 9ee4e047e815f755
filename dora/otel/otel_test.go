package doraotel_test

import (
	"context"
	"net"
	"strconv"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	doraotel "github.com/seed857a6cbd/pocket/dora/otel"
	"github.com/seed857a6cbd/pocket/dora/status"
)

// pair returns the client and the server span of the one call in spans.
func pair(t *testing.T, spans tracetest.SpanStubs) (client, server tracetest.SpanStub) {
	t.Helper()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want a client and a server span: %+v", len(spans), spans)
	}
	client, server = spans[0], spans[1]
	if client.SpanKind != trace.SpanKindClient {
		client, server = server, client
	}
	if client.SpanKind != trace.SpanKindClient || server.SpanKind != trace.SpanKindServer {
		t.Fatalf("span kinds %v and %v, want client and server", client.SpanKind, server.SpanKind)
	}
	return client, server
}

func TestUnarySpans(t *testing.T) {
	cases := []struct {
		name                 string
		text                 string
		code                 codes.Code
		clientErr, serverErr bool
	}{
		{name: "ok", text: "hi", code: codes.OK},
		{name: "client fault", text: "invalid", code: codes.InvalidArgument, clientErr: true},
		{name: "server fault", text: "internal", code: codes.Internal, clientErr: true, serverErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tel := newTelemetry(t)
			srv := startServer(t, dora.WithStats(doraotel.NewServerHandler(doraotel.WithTracerProvider(tel.tp))))
			c := newClient(t, srv.addr, dora.WithStats(doraotel.NewClientHandler(doraotel.WithTracerProvider(tel.tp))))
			ec := echo.NewEchoClient(c)
			_, port, _ := net.SplitHostPort(srv.addr)
			wantPort, _ := strconv.Atoi(port)
			// The caller's metadata still arrives, and the caller's MD is not changed.
			md := metadata.Pairs("user", "ann")
			ctx := metadata.NewOutgoingContext(testCtx(t), md)
			resp, err := ec.Say(ctx, &echo.SayRequest{Text: tc.text})
			if status.Code(err) != tc.code {
				t.Fatalf("err = %v, want %v", err, tc.code)
			}
			if tc.code == codes.OK && resp.Text != "hi ann" {
				t.Fatalf("resp = %q, want %q", resp.Text, "hi ann")
			}
			if md.Len() != 1 {
				t.Fatalf("the caller's metadata was changed: %v", md)
			}
			srv.stop() // every server span has ended
			client, server := pair(t, tel.spans.GetSpans())

			if server.Parent.SpanID() != client.SpanContext.SpanID() || server.SpanContext.TraceID() != client.SpanContext.TraceID() {
				t.Fatalf("server span's parent %v, trace %v; want the client span %v, trace %v",
					server.Parent.SpanID(), server.SpanContext.TraceID(), client.SpanContext.SpanID(), client.SpanContext.TraceID())
			}
			if !server.Parent.IsRemote() {
				t.Fatal("server span's parent is not remote")
			}
			for _, s := range []tracetest.SpanStub{client, server} {
				if s.Name != "dora.examples.echo.Echo/Say" {
					t.Fatalf("span name %q", s.Name)
				}
				a := attrs(s.Attributes)
				if a["rpc.system"].AsString() != "dora" || a["rpc.service"].AsString() != "dora.examples.echo.Echo" ||
					a["rpc.method"].AsString() != "Say" || a["rpc.dora.status_code"].AsInt64() != int64(tc.code) {
					t.Fatalf("%v span attributes %v", s.SpanKind, s.Attributes)
				}
			}
			ca, sa := attrs(client.Attributes), attrs(server.Attributes)
			if ca["server.address"].AsString() != "127.0.0.1" || ca["server.port"].AsInt64() != int64(wantPort) {
				t.Fatalf("client span attributes %v, want server.address 127.0.0.1, server.port %d", client.Attributes, wantPort)
			}
			if sa["network.peer.address"].AsString() != "127.0.0.1" || sa["network.peer.port"].AsInt64() == 0 {
				t.Fatalf("server span attributes %v, want network.peer.*", server.Attributes)
			}
			if got := client.Status.Code == otelcodes.Error; got != tc.clientErr {
				t.Fatalf("client span status %v, want error %v", client.Status, tc.clientErr)
			}
			if got := server.Status.Code == otelcodes.Error; got != tc.serverErr {
				t.Fatalf("server span status %v, want error %v", server.Status, tc.serverErr)
			}
		})
	}
}

func TestCallerSpanIsParent(t *testing.T) {
	tel := newTelemetry(t)
	srv := startServer(t, dora.WithStats(doraotel.NewServerHandler(doraotel.WithTracerProvider(tel.tp))))
	c := newClient(t, srv.addr, dora.WithStats(doraotel.NewClientHandler(doraotel.WithTracerProvider(tel.tp))))
	ctx, parent := tel.tp.Tracer("test").Start(testCtx(t), "caller")
	if _, err := echo.NewEchoClient(c).Say(ctx, &echo.SayRequest{Text: "x"}); err != nil {
		t.Fatal(err)
	}
	parent.End()
	srv.stop()
	spans := tel.spans.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	byKind := map[trace.SpanKind]tracetest.SpanStub{}
	for _, s := range spans {
		byKind[s.SpanKind] = s
	}
	caller, client, server := byKind[trace.SpanKindInternal], byKind[trace.SpanKindClient], byKind[trace.SpanKindServer]
	if client.Parent.SpanID() != caller.SpanContext.SpanID() || server.Parent.SpanID() != client.SpanContext.SpanID() {
		t.Fatalf("parents: client's %v (want %v), server's %v (want %v)", client.Parent.SpanID(), caller.SpanContext.SpanID(),
			server.Parent.SpanID(), client.SpanContext.SpanID())
	}
	for _, s := range spans {
		if s.SpanContext.TraceID() != caller.SpanContext.TraceID() {
			t.Fatalf("span %q in trace %v, want %v", s.Name, s.SpanContext.TraceID(), caller.SpanContext.TraceID())
		}
	}
}

func TestStreamSpans(t *testing.T) {
	tel := newTelemetry(t)
	srv := startServer(t, dora.WithStats(doraotel.NewServerHandler(doraotel.WithTracerProvider(tel.tp))))
	c := newClient(t, srv.addr, dora.WithStats(doraotel.NewClientHandler(doraotel.WithTracerProvider(tel.tp))))
	st, err := echo.NewEchoClient(c).Count(testCtx(t), &echo.CountRequest{From: 1, To: 3})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ; ; n++ {
		if _, err := st.Recv(); err != nil {
			break
		}
	}
	if n != 3 {
		t.Fatalf("%d messages, want 3", n)
	}
	srv.stop()
	client, server := pair(t, tel.spans.GetSpans())
	if client.Name != "dora.examples.echo.Echo/Count" || server.Parent.SpanID() != client.SpanContext.SpanID() {
		t.Fatalf("client span %q, server parent %v (want %v)", client.Name, server.Parent.SpanID(), client.SpanContext.SpanID())
	}
}

func TestUnknownMethodIsOther(t *testing.T) {
	tel := newTelemetry(t)
	srv := startServer(t, dora.WithStats(doraotel.NewServerHandler(doraotel.WithTracerProvider(tel.tp), doraotel.WithMeterProvider(tel.mp))))
	c := newClient(t, srv.addr)
	var out echo.SayResponse
	if err := c.Invoke(testCtx(t), "/peer.Chosen/Name", &echo.SayRequest{}, &out); status.Code(err) != codes.Unimplemented {
		t.Fatalf("err = %v, want Unimplemented", err)
	}
	srv.stop()
	spans := tel.spans.GetSpans()
	if len(spans) != 1 || spans[0].Name != "_OTHER" || attrs(spans[0].Attributes)["rpc.method"].AsString() != "_OTHER" {
		t.Fatalf("spans %+v, want one named _OTHER", spans)
	}
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	h := histogram[float64](t, rm, "rpc.server.duration")
	if len(h.DataPoints) != 1 {
		t.Fatalf("%d data points", len(h.DataPoints))
	}
	if m, _ := h.DataPoints[0].Attributes.Value("rpc.method"); m.AsString() != "_OTHER" {
		t.Fatalf("rpc.method = %q, want _OTHER", m.AsString())
	}
}

// histogram returns the named histogram of rm.
func histogram[N int64 | float64](t *testing.T, rm metricdata.ResourceMetrics, name string) metricdata.Histogram[N] {
	t.Helper()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				h, ok := m.Data.(metricdata.Histogram[N])
				if !ok {
					t.Fatalf("%s is a %T", name, m.Data)
				}
				return h
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return metricdata.Histogram[N]{}
}

func TestMetrics(t *testing.T) {
	tel := newTelemetry(t)
	srv := startServer(t, dora.WithStats(doraotel.NewServerHandler(doraotel.WithMeterProvider(tel.mp))))
	c := newClient(t, srv.addr, dora.WithStats(doraotel.NewClientHandler(doraotel.WithMeterProvider(tel.mp))))
	ec := echo.NewEchoClient(c)
	for _, text := range []string{"a", "b", "invalid"} {
		_, _ = ec.Say(testCtx(t), &echo.SayRequest{Text: text})
	}
	srv.stop()
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	okSet := func(side string) attribute.Set {
		kv := []attribute.KeyValue{attribute.String("rpc.system", "dora"), attribute.String("rpc.service", "dora.examples.echo.Echo"),
			attribute.String("rpc.method", "Say"), attribute.Int("rpc.dora.status_code", 0)}
		if side == "client" {
			host, port, _ := net.SplitHostPort(srv.addr)
			p, _ := strconv.Atoi(port)
			kv = append(kv, attribute.String("server.address", host), attribute.Int("server.port", p))
		}
		return attribute.NewSet(kv...)
	}
	for _, side := range []string{"client", "server"} {
		t.Run(side, func(t *testing.T) {
			d := histogram[float64](t, rm, "rpc."+side+".duration")
			if len(d.DataPoints) != 2 { // OK and InvalidArgument
				t.Fatalf("%d duration series, want 2 (one per code)", len(d.DataPoints))
			}
			for _, dp := range d.DataPoints {
				want, ok := uint64(1), okSet(side)
				if dp.Attributes.Equals(&ok) {
					want = 2
				}
				if dp.Count != want || dp.Sum <= 0 {
					t.Fatalf("duration %v: count %d sum %v, want count %d", dp.Attributes.ToSlice(), dp.Count, dp.Sum, want)
				}
			}
			for _, name := range []string{"request.size", "response.size", "requests_per_rpc", "responses_per_rpc"} {
				h := histogram[int64](t, rm, "rpc."+side+"."+name)
				var n uint64
				for _, dp := range h.DataPoints {
					n += dp.Count
					if mn, _ := dp.Min.Value(); mn <= 0 {
						t.Fatalf("%s: min %d", name, mn)
					}
				}
				if n != 3 {
					t.Fatalf("%s counted %d calls, want 3", name, n)
				}
			}
			// One unary call is one message each way.
			per := histogram[int64](t, rm, "rpc."+side+".requests_per_rpc")
			for _, dp := range per.DataPoints {
				if dp.Sum != int64(dp.Count) {
					t.Fatalf("requests_per_rpc sum %d over %d calls, want one each", dp.Sum, dp.Count)
				}
			}
		})
	}
}
