package api

import (
	"context"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
)

// Metrics are the RPC metrics: calls by method and code, latency histograms by method, and
// calls refused by the rate limits by operation. Register them with NewMetrics.
//
//	etserver_rpc_calls_total{method,code}
//	etserver_rpc_duration_seconds{method}       (histogram)
//	etserver_rpc_rate_limited_total{op}         (op: read, write, or login for the login throttle)
//	etserver_rpc_legacy_calls_total             (calls from legacy peers)
type Metrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	limited  *prometheus.CounterVec
	legacy   prometheus.Counter

	// byMethod holds the kv.Store methods' children, resolved once instead of by a label
	// lookup (hashing, a locked map) on every call. Read-only after NewMetrics.
	byMethod map[string]*methodMetrics
}

// methodMetrics are one method's children: its histogram, and its call counter per code,
// created on the code's first call (so the exposition shows only codes that happened).
type methodMetrics struct {
	duration prometheus.Observer
	calls    [codes.Unauthenticated + 1]atomic.Pointer[prometheus.Counter]
}

// latencyBuckets span 50 µs to 1 s: the service answers in well under a millisecond on
// loopback, so the default Prometheus buckets (from 5 ms) would say nothing.
var latencyBuckets = []float64{50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1}

// NewMetrics creates the metrics and registers them on reg; it fails when reg already has
// metrics of the same names.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "etserver_rpc_calls_total",
			Help: "RPC calls by full method name and status code."}, []string{"method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "etserver_rpc_duration_seconds",
			Help: "RPC call latency on the server, by full method name.", Buckets: latencyBuckets}, []string{"method"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "etserver_rpc_rate_limited_total",
			Help: "Calls refused with ResourceExhausted by the per-user quota (read, write) or the login throttle (login)."}, []string{"op"}),
		legacy: prometheus.NewCounter(prometheus.CounterOpts{Name: "etserver_rpc_legacy_calls_total",
			Help: "Calls from legacy (previous-version) clients."}),
	}
	for _, c := range []prometheus.Collector{m.calls, m.duration, m.limited, m.legacy} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.byMethod = make(map[string]*methodMetrics)
	for _, name := range []string{MethodLogin, MethodWriteSecureMessage, MethodReadSecureMessage, MethodLogout, MethodDeleteSecureMessage} {
		m.byMethod[name] = &methodMetrics{duration: m.duration.WithLabelValues(name)}
	}
	return m, nil
}

// CallBegin implements dora.StatsHandler.
func (m *Metrics) CallBegin(ctx context.Context, _ *dora.CallInfo) context.Context { return ctx }

// CallEnd implements dora.StatsHandler.
func (m *Metrics) CallEnd(_ context.Context, s *dora.CallStats) {
	mm := m.byMethod[s.FullMethod]
	if mm == nil || s.Code > codes.Unauthenticated {
		m.calls.WithLabelValues(s.FullMethod, s.Code.String()).Inc()
		m.duration.WithLabelValues(s.FullMethod).Observe(s.Duration.Seconds())
	} else {
		c := mm.calls[s.Code].Load()
		if c == nil {
			counter := m.calls.WithLabelValues(s.FullMethod, s.Code.String())
			c = &counter
			mm.calls[s.Code].Store(c) // racing stores hold the same child
		}
		(*c).Inc()
		mm.duration.Observe(s.Duration.Seconds())
	}
	if s.Legacy {
		m.legacy.Inc()
	}
}
