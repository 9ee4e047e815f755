package doraotel_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	doraotel "github.com/seed857a6cbd/pocket/dora/otel"
)

// A traced call: the server's span is the child of the client's, in one trace. A real
// program gives its TracerProvider an OTLP exporter, or sets it globally with
// otel.SetTracerProvider and leaves out WithTracerProvider.
func Example() {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer tp.Shutdown(context.Background())

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := dora.NewServer(dora.WithStats(doraotel.NewServerHandler(doraotel.WithTracerProvider(tp))))
	echo.RegisterEchoServer(srv, echoImpl{})
	go srv.Serve(lis)

	client, err := dora.NewClient(lis.Addr().String(), dora.WithStats(doraotel.NewClientHandler(doraotel.WithTracerProvider(tp))))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	if _, err := echo.NewEchoClient(client).Say(context.Background(), &echo.SayRequest{Text: "hi"}, dora.Timeout(time.Second)); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.GracefulStop(ctx) // the server span has ended

	got := spans.GetSpans()
	for _, s := range got {
		fmt.Println(s.SpanKind, s.Name)
	}
	fmt.Println("one trace:", got[0].SpanContext.TraceID() == got[1].SpanContext.TraceID())
	// Unordered output:
	// server dora.examples.echo.Echo/Say
	// client dora.examples.echo.Echo/Say
	// one trace: true
}
