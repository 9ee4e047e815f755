package doraotel

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the tracer and meter the handlers use.
const ScopeName = "github.com/seed857a6cbd/pocket/dora/otel"

// Option configures a handler.
type Option func(*config)

type config struct {
	tp    trace.TracerProvider
	mp    metric.MeterProvider
	props propagation.TextMapPropagator
}

// WithTracerProvider sets where spans go (default: otel.GetTracerProvider() at the time the
// handler is made). A nil provider is ignored.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) {
		if tp != nil {
			c.tp = tp
		}
	}
}

// WithMeterProvider sets where metrics go (default: otel.GetMeterProvider() at the time the
// handler is made). A nil provider is ignored.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) {
		if mp != nil {
			c.mp = mp
		}
	}
}

// WithPropagators sets how the trace context travels in metadata (default: W3C trace context
// and baggage, propagation.TraceContext{} and propagation.Baggage{}, whatever the global
// propagator is; pass otel.GetTextMapPropagator() to use the global one). A nil propagator
// is ignored.
func WithPropagators(p propagation.TextMapPropagator) Option {
	return func(c *config) {
		if p != nil {
			c.props = p
		}
	}
}

func newConfig(opts []Option) config {
	c := config{
		tp:    otel.GetTracerProvider(),
		mp:    otel.GetMeterProvider(),
		props: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}
