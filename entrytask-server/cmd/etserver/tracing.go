package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"

	"github.com/seed857a6cbd/pocket/dora"
	doraotel "github.com/seed857a6cbd/pocket/dora/otel"

	"github.com/seed857a6cbd/pocket/entrytask-server/infra/config"
)

// otelFlushTimeout bounds the export of the spans still buffered when serve stops.
const otelFlushTimeout = 5 * time.Second

// tracing is the TracerProvider of serve when otel.endpoint (or the exporter's standard
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT) is set.
type tracing struct {
	tp *sdktrace.TracerProvider
}

// tracingOn reports whether spans are exported: otel.endpoint is set, or the environment
// names an OTLP endpoint the exporter reads by itself.
func tracingOn(cfg config.Config) bool {
	return cfg.OTel.Endpoint != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" ||
		os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != ""
}

// startTracing builds the TracerProvider (OTLP/HTTP exporter, batched, parent-based
// sampling at otel.sample_ratio, service.name otel.service_name); nil when tracing is off.
// Export errors are logged at warn.
func startTracing(ctx context.Context, cfg config.Config, log *slog.Logger) (*tracing, error) {
	if !tracingOn(cfg) {
		return nil, nil
	}
	var opts []otlptracehttp.Option
	if cfg.OTel.Endpoint != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(cfg.OTel.Endpoint))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("otel: exporter: %w", err)
	}
	// Later detectors win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override the file.
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName(cfg.OTel.ServiceName)),
		resource.WithTelemetrySDK(), resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("otel: resource: %w", err)
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("otel", "err", err) }))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.OTel.SampleRatio))))
	return &tracing{tp: tp}, nil
}

// serverOption is dora/otel's server handler on t's TracerProvider.
func (t *tracing) serverOption() dora.ServerOption {
	return dora.ServerStats(doraotel.NewServerHandler(doraotel.WithTracerProvider(t.tp)))
}

// shutdown exports the spans still buffered, for at most otelFlushTimeout.
func (t *tracing) shutdown(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), otelFlushTimeout)
	defer cancel()
	if err := t.tp.Shutdown(ctx); err != nil {
		log.Warn("otel: flushing spans", "err", err)
	}
}
