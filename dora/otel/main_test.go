package doraotel_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/otel/internal/testkit"
	"github.com/seed857a6cbd/pocket/dora/status"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// echoImpl answers Say with the text and the "user" metadata it got; "internal" and
// "invalid" fail with those codes.
type echoImpl struct{ echo.UnimplementedEchoServer }

func (echoImpl) Say(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
	switch in.Text {
	case "internal":
		return nil, status.Error(codes.Internal, "boom")
	case "invalid":
		return nil, status.Error(codes.InvalidArgument, "bad text")
	}
	return &echo.SayResponse{Text: in.Text + " " + metadata.ValueFromIncomingContext(ctx, "user")}, nil
}

func (echoImpl) Count(in *echo.CountRequest, st dora.ServerStreamingServer[echo.CountResponse]) error {
	for i := in.From; i <= in.To; i++ {
		if err := st.Send(&echo.CountResponse{N: i}); err != nil {
			return err
		}
	}
	return nil
}

// telemetry is an SDK tracer provider exporting to memory and a meter provider read by hand.
type telemetry struct {
	spans  *tracetest.InMemoryExporter
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newTelemetry(t *testing.T) *telemetry {
	t.Helper()
	tel := &telemetry{spans: tracetest.NewInMemoryExporter(), reader: sdkmetric.NewManualReader()}
	tel.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(tel.spans))
	tel.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	t.Cleanup(func() {
		ctx := context.Background()
		_ = tel.tp.Shutdown(ctx)
		_ = tel.mp.Shutdown(ctx)
	})
	return tel
}

// server is a dora echo server on loopback; stop waits until every call (and so every
// server span) has ended.
type server struct {
	addr string
	srv  *dora.Server
	done chan error
}

func startServer(t *testing.T, opts ...dora.ServerOption) *server {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{addr: lis.Addr().String(), srv: dora.NewServer(append([]dora.ServerOption{dora.WithLogger(quiet)}, opts...)...), done: make(chan error, 1)}
	echo.RegisterEchoServer(s.srv, echoImpl{})
	go func() { s.done <- s.srv.Serve(lis) }()
	t.Cleanup(s.stop)
	return s
}

func (s *server) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.srv.GracefulStop(ctx)
	if err := <-s.done; err != nil {
		panic(err)
	}
	s.done <- nil
}

func newClient(t *testing.T, addr string, opts ...dora.ClientOption) *dora.Client {
	t.Helper()
	c, err := dora.NewClient(addr, append([]dora.ClientOption{dora.WithLogger(quiet)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context { return testkit.Context(t, 10*time.Second) }

// attrs maps a span's or a data point's attributes by key.
func attrs(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}
