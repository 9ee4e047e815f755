package cli

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"

	"github.com/seed857a6cbd/pocket/dora"
	doraotel "github.com/seed857a6cbd/pocket/dora/otel"
)

// OTelServiceName is the service.name of etclient's spans (OTEL_SERVICE_NAME wins).
const OTelServiceName = "etclient"

// OTelFlushTimeout bounds the export of the spans still buffered when a command ends.
const OTelFlushTimeout = 5 * time.Second

// validOTelURL reports whether u is an http or https URL with a host.
func validOTelURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != ""
}

// startTracing returns dora/otel's client handler on a TracerProvider that batches every
// call's span to the OTLP/HTTP traces URL endpoint, and flush, which exports what is
// buffered (for at most OTelFlushTimeout) and stops the provider. The exporter's other
// OTEL_EXPORTER_OTLP_* variables (headers, timeout, TLS) apply; its errors go to stderr.
func startTracing(ctx context.Context, endpoint string, stderr io.Writer) (dora.StatsHandler, func(), error) {
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, nil, fmt.Errorf("--otel-endpoint: %w", err)
	}
	// Later detectors win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override the name.
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName(OTelServiceName)),
		resource.WithTelemetrySDK(), resource.WithFromEnv())
	if err != nil {
		return nil, nil, fmt.Errorf("--otel-endpoint: resource: %w", err)
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { fmt.Fprintf(stderr, "etclient: otel: %v\n", err) }))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	flush := func() {
		ctx, cancel := context.WithTimeout(context.Background(), OTelFlushTimeout)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			fmt.Fprintf(stderr, "etclient: otel: flushing spans: %v\n", err)
		}
	}
	return doraotel.NewClientHandler(doraotel.WithTracerProvider(tp)), flush, nil
}
