package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"

	"github.com/seed857a6cbd/pocket/dora"
	doraotel "github.com/seed857a6cbd/pocket/dora/otel"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/config"
)

// otelFlushTimeout bounds the export of the spans still buffered when serve stops.
const otelFlushTimeout = 5 * time.Second

// tracing holds serve's OpenTelemetry providers: the TracerProvider when spans are exported
// (otel.endpoint, or the exporter's standard OTEL_EXPORTER_OTLP_TRACES_ENDPOINT /
// OTEL_EXPORTER_OTLP_ENDPOINT), the MeterProvider when metrics are (otel.metrics_endpoint, or
// OTEL_EXPORTER_OTLP_METRICS_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT). Either may be nil.
type tracing struct {
	tp *sdktrace.TracerProvider
	mp *sdkmetric.MeterProvider
}

// otelMetricsInterval is how often the RPC metrics are pushed (also once when serve stops).
const otelMetricsInterval = 60 * time.Second

// tracingOn reports whether spans are exported: otel.endpoint is set, or the environment
// names an OTLP endpoint the exporter reads by itself.
func tracingOn(cfg config.Config) bool {
	return cfg.OTel.Endpoint != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" ||
		os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != ""
}

// metricsOn reports whether RPC metrics are exported over OTLP.
func metricsOn(cfg config.Config) bool {
	return cfg.OTel.MetricsEndpoint != "" || os.Getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") != "" ||
		os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != ""
}

// startTracing builds the TracerProvider (OTLP/HTTP exporter, batched, parent-based
// sampling at otel.sample_ratio) and the MeterProvider (OTLP/HTTP exporter, pushed every
// otelMetricsInterval), both with service.name otel.service_name; nil when neither is on.
// Export errors are logged at warn.
func startTracing(ctx context.Context, cfg config.Config, log *slog.Logger) (*tracing, error) {
	traces, metrics := tracingOn(cfg), metricsOn(cfg)
	if !traces && !metrics {
		return nil, nil
	}
	// Later detectors win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override the file.
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName(cfg.OTel.ServiceName)),
		resource.WithTelemetrySDK(), resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("otel: resource: %w", err)
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("otel", "err", err) }))
	t := &tracing{}
	if traces {
		var opts []otlptracehttp.Option
		if cfg.OTel.Endpoint != "" {
			opts = append(opts, otlptracehttp.WithEndpointURL(cfg.OTel.Endpoint))
		}
		exp, err := otlptracehttp.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("otel: exporter: %w", err)
		}
		t.tp = sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.OTel.SampleRatio))))
	}
	if metrics {
		var opts []otlpmetrichttp.Option
		if cfg.OTel.MetricsEndpoint != "" {
			opts = append(opts, otlpmetrichttp.WithEndpointURL(cfg.OTel.MetricsEndpoint))
		}
		exp, err := otlpmetrichttp.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("otel: metrics exporter: %w", err)
		}
		t.mp = sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
			sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(otelMetricsInterval))))
	}
	return t, nil
}

// serverOption is dora/otel's server handler on t's providers.
func (t *tracing) serverOption() dora.ServerOption {
	var opts []doraotel.Option
	if t.tp != nil {
		opts = append(opts, doraotel.WithTracerProvider(t.tp))
	}
	if t.mp != nil {
		opts = append(opts, doraotel.WithMeterProvider(t.mp))
	}
	return dora.WithStats(doraotel.NewServerHandler(opts...))
}

// shutdown exports the spans and metrics still buffered, for at most otelFlushTimeout.
func (t *tracing) shutdown(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), otelFlushTimeout)
	defer cancel()
	if t.tp != nil {
		if err := t.tp.Shutdown(ctx); err != nil {
			log.Warn("otel: flushing spans", "err", err)
		}
	}
	if t.mp != nil {
		if err := t.mp.Shutdown(ctx); err != nil {
			log.Warn("otel: flushing metrics", "err", err)
		}
	}
}
