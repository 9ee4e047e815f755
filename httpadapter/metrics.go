package httpadapter

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Route labels of requests that reached no route.
const (
	// RouteUnrouted labels requests that matched no route (answered 404).
	RouteUnrouted = "unrouted"
	// RouteMetrics labels requests for the WithMetricsPath endpoint.
	RouteMetrics = "metrics"
	// RouteHealth labels requests for the WithHealthCheck endpoint.
	RouteHealth = "health"
)

// metrics are the Server's Prometheus metrics, labelled by route name (IIP routes), by
// "dora:/package.Service/Method" (dora calls of known methods), or RouteUnrouted.
type metrics struct {
	requests *prometheus.CounterVec   // httpadapter_requests_total{route,code}
	latency  *prometheus.HistogramVec // httpadapter_request_duration_seconds{route}
	inFlight *prometheus.GaugeVec     // httpadapter_requests_in_flight{route}
	errors   *prometheus.CounterVec   // httpadapter_errors_total{route,error}
	gatherer prometheus.Gatherer
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "httpadapter",
			Name:      "requests_total",
			Help:      "HTTP requests answered, by route and HTTP status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "httpadapter",
			Name:      "request_duration_seconds",
			Help:      "Time from the request's arrival to the end of its answer, by route.",
			Buckets:   prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms .. 16 s
		}, []string{"route"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "httpadapter",
			Name:      "requests_in_flight",
			Help:      "Requests being served, by route.",
		}, []string{"route"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "httpadapter",
			Name:      "errors_total",
			Help:      "Requests answered with an error body, by route and the body's error code (no_route, not_found, handler_error, ...).",
		}, []string{"route", "error"}),
	}
	if reg == nil {
		r := prometheus.NewRegistry()
		reg, m.gatherer = r, r
	} else if reg == prometheus.DefaultRegisterer {
		m.gatherer = prometheus.DefaultGatherer
	} else if g, ok := reg.(prometheus.Gatherer); ok {
		m.gatherer = g
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.inFlight, m.errors} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("%w: registering metrics: %v", ErrBadOption, err)
		}
	}
	return m, nil
}

// routeMetrics are the metric children of one route label, looked up once.
type routeMetrics struct {
	label    string
	inFlight prometheus.Gauge
	latency  prometheus.Observer
	ok       prometheus.Counter // requests with status 200
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
}

func (m *metrics) forRoute(label string) *routeMetrics {
	return &routeMetrics{
		label:    label,
		inFlight: m.inFlight.WithLabelValues(label),
		latency:  m.latency.WithLabelValues(label),
		ok:       m.requests.WithLabelValues(label, "200"),
		requests: m.requests,
		errors:   m.errors,
	}
}

// done records one answered request; errCode is the error body's code, "" for none.
func (rm *routeMetrics) done(code int, d time.Duration, errCode string) {
	if code == http.StatusOK {
		rm.ok.Inc()
	} else {
		rm.requests.WithLabelValues(rm.label, statusLabel(code)).Inc()
	}
	if errCode != "" {
		rm.errors.WithLabelValues(rm.label, errCode).Inc()
	}
	rm.latency.Observe(d.Seconds())
}

// handler serves the metrics in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	if m.gatherer == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, &httpError{status: http.StatusNotFound, code: CodeNoRoute,
				message: "httpadapter: metrics are registered on a Registerer that is not a Gatherer"})
		})
	}
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{})
}

// statusLabel returns the label value of an HTTP status code without allocating for the
// common ones.
func statusLabel(code int) string {
	switch code {
	case 200:
		return "200"
	case 400:
		return "400"
	case 404:
		return "404"
	case 500:
		return "500"
	case 502:
		return "502"
	case 504:
		return "504"
	}
	return strconv.Itoa(code)
}
