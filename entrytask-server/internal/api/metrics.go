package api

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

// Metrics are the RPC metrics: calls by method and code, the application status the
// answers carried, latency histograms by method, and calls refused by the rate limits by
// operation. Register them with NewMetrics.
//
//	etserver_rpc_calls_total{method,code}          (code: the transport status, dora/codes)
//	etserver_rpc_app_status_total{method,status}   (status: kvpb.CODE of the answer's Status)
//	etserver_rpc_duration_seconds{method}          (histogram)
//	etserver_rpc_rate_limited_total{op}            (op: read, write, or login for the login throttle)
//	etserver_rpc_legacy_calls_total                (calls from legacy peers)
//
// A failed login or a missing key is a call answered with code OK whose response carries
// an application status: etserver_rpc_app_status_total{method="/kv.Store/Login",
// status="INCORRECT_USERNAME_OR_PASSWORD"} and {method="/kv.Store/ReadSecureMessage",
// status="KEY_NOT_EXIST"} count them. Every kv.Store method × code, every method × status
// it can answer and every op exist from NewMetrics on at 0, so dashboards and rate()
// see a zero before the first call.
type Metrics struct {
	calls     *prometheus.CounterVec
	appStatus *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	limited   *prometheus.CounterVec
	legacy    prometheus.Counter

	// byMethod holds the kv.Store methods' children, resolved once instead of by a label
	// lookup (hashing, a locked map) on every call. Read-only after NewMetrics.
	byMethod map[string]*methodMetrics
}

// methodMetrics are one method's children: its histogram, its call counter per code and
// its application status counters (nil for a status the method does not answer).
type methodMetrics struct {
	duration prometheus.Observer
	calls    [codes.Unauthenticated + 1]prometheus.Counter
	status   [len(appStatuses)]prometheus.Counter
}

// appStatuses are the application statuses, in the order of methodMetrics.status.
var appStatuses = [...]kvpb.CODE{kvpb.CODE_OK, kvpb.CODE_INCORRECT_USERNAME_OR_PASSWORD, kvpb.CODE_KEY_NOT_EXIST}

// methodStatuses are the application statuses each kv.Store method answers with
// (WriteSecureMessage's answer carries none).
var methodStatuses = map[string][]kvpb.CODE{
	MethodLogin:               {kvpb.CODE_OK, kvpb.CODE_INCORRECT_USERNAME_OR_PASSWORD},
	MethodReadSecureMessage:   {kvpb.CODE_OK, kvpb.CODE_KEY_NOT_EXIST},
	MethodDeleteSecureMessage: {kvpb.CODE_OK, kvpb.CODE_KEY_NOT_EXIST},
	MethodLogout:              {kvpb.CODE_OK},
	MethodWriteSecureMessage:  nil,
}

// latencyBuckets span 50 µs to 1 s: the service answers in well under a millisecond on
// loopback, so the default Prometheus buckets (from 5 ms) would say nothing.
var latencyBuckets = []float64{50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1}

// NewMetrics creates the metrics, with every kv.Store series at zero, and registers them
// on reg; it fails when reg already has metrics of the same names.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "etserver_rpc_calls_total",
			Help: "RPC calls by full method name and transport status code."}, []string{"method", "code"}),
		appStatus: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "etserver_rpc_app_status_total",
			Help: "RPC calls answered with an application status (kvpb.CODE: OK, INCORRECT_USERNAME_OR_PASSWORD, KEY_NOT_EXIST), by full method name."},
			[]string{"method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "etserver_rpc_duration_seconds",
			Help: "RPC call latency on the server, by full method name.", Buckets: latencyBuckets}, []string{"method"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "etserver_rpc_rate_limited_total",
			Help: "Calls refused with ResourceExhausted by the per-user quota (read, write) or the login throttle (login)."}, []string{"op"}),
		legacy: prometheus.NewCounter(prometheus.CounterOpts{Name: "etserver_rpc_legacy_calls_total",
			Help: "Calls from legacy (previous-version) clients."}),
	}
	for _, c := range []prometheus.Collector{m.calls, m.appStatus, m.duration, m.limited, m.legacy} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.byMethod = make(map[string]*methodMetrics)
	for name, statuses := range methodStatuses {
		mm := &methodMetrics{duration: m.duration.WithLabelValues(name)}
		for code := range mm.calls {
			mm.calls[code] = m.calls.WithLabelValues(name, codes.Code(code).String())
		}
		for _, st := range statuses {
			mm.status[statusIndex(st)] = m.appStatus.WithLabelValues(name, st.String())
		}
		m.byMethod[name] = mm
	}
	for _, op := range []domain.Op{domain.OpRead, domain.OpWrite, domain.OpLogin} {
		m.limited.WithLabelValues(string(op))
	}
	return m, nil
}

// statusIndex is the index of code in appStatuses, or -1.
func statusIndex(code kvpb.CODE) int {
	for i, c := range appStatuses {
		if c == code {
			return i
		}
	}
	return -1
}

// answered counts an answer of method carrying application status code; m may be nil.
func (m *Metrics) answered(method string, code kvpb.CODE) {
	if m == nil {
		return
	}
	if mm := m.byMethod[method]; mm != nil {
		if i := statusIndex(code); i >= 0 && mm.status[i] != nil {
			mm.status[i].Inc()
			return
		}
	}
	m.appStatus.WithLabelValues(method, code.String()).Inc()
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
		mm.calls[s.Code].Inc()
		mm.duration.Observe(s.Duration.Seconds())
	}
	if s.Legacy {
		m.legacy.Inc()
	}
}
