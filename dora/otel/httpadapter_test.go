package doraotel_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/seed857a6cbd/pocket/dora"
	doraotel "github.com/seed857a6cbd/pocket/dora/otel"
	"github.com/seed857a6cbd/pocket/httpadapter"
)

// An HTTP client's span → httpadapter (which only copies traceparent and tracestate into
// the call's metadata) → the adapter's dora client span → the dora server span: one trace,
// each span the child of the one before.
func TestHTTPAdapterTrace(t *testing.T) {
	tel := newTelemetry(t)
	srv := startServer(t, dora.WithStats(doraotel.NewServerHandler(doraotel.WithTracerProvider(tel.tp))))
	client := newClient(t, srv.addr, dora.WithStats(doraotel.NewClientHandler(doraotel.WithTracerProvider(tel.tp))))
	adapter, err := httpadapter.NewServer(httpadapter.WithDora(client), httpadapter.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- adapter.Serve(lis) }()
	t.Cleanup(func() {
		_ = adapter.Shutdown(context.Background())
		<-served
	})

	ctx, httpSpan := tel.tp.Tracer("test").Start(testCtx(t), "HTTP POST", trace.WithSpanKind(trace.SpanKindClient))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+lis.Addr().String()+"/dora.examples.echo.Echo/Say", strings.NewReader(`{"text":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP status %d", resp.StatusCode)
	}
	httpSpan.End()
	srv.stop()

	spans := tel.spans.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want HTTP client, dora client, dora server: %+v", len(spans), spans)
	}
	var doraClient, doraServer, root = spans[0], spans[0], spans[0]
	for _, s := range spans {
		switch {
		case s.Name == "HTTP POST":
			root = s
		case s.SpanKind == trace.SpanKindServer:
			doraServer = s
		default:
			doraClient = s
		}
	}
	if doraClient.Parent.SpanID() != root.SpanContext.SpanID() || doraServer.Parent.SpanID() != doraClient.SpanContext.SpanID() {
		t.Fatalf("parents: dora client's %v (want the HTTP span %v), dora server's %v (want %v)",
			doraClient.Parent.SpanID(), root.SpanContext.SpanID(), doraServer.Parent.SpanID(), doraClient.SpanContext.SpanID())
	}
	for _, s := range spans {
		if s.SpanContext.TraceID() != root.SpanContext.TraceID() {
			t.Fatalf("span %q is in trace %v, want %v", s.Name, s.SpanContext.TraceID(), root.SpanContext.TraceID())
		}
	}
}
