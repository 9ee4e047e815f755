// Package iipprom exposes an iip.Server's statistics as a Prometheus
// collector. It lives in its own package so that the iip core does not
// depend on the Prometheus client.
package iipprom

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/seed857a6cbd/pocket/iip"
)

// DefaultNamespace prefixes every metric name unless WithNamespace says
// otherwise.
const DefaultNamespace = "iip"

// Option configures NewCollector; when an option is given twice, the last
// wins.
type Option func(*options)

type options struct {
	namespace   string
	buckets     []float64
	constLabels prometheus.Labels
}

// WithNamespace sets the prefix of the metric names. Default
// DefaultNamespace ("iip"); "" means the default.
func WithNamespace(ns string) Option { return func(o *options) { o.namespace = ns } }

// WithBuckets sets the upper bounds, in seconds, of the request duration
// histogram; they must be strictly ascending, else NewCollector returns an
// error wrapping iip.ErrInvalidConfig. Default prometheus.DefBuckets; none
// means the default.
func WithBuckets(upper ...float64) Option {
	return func(o *options) { o.buckets = append([]float64(nil), upper...) }
}

// WithConstLabels adds labels to every metric (for example the server
// name). Default: none.
func WithConstLabels(l prometheus.Labels) Option { return func(o *options) { o.constLabels = l } }

// Collector is a prometheus.Collector reading an iip.Server's statistics
// at scrape time. Metrics (with the default namespace, "iip"):
//
//	iip_requests_total{path}              counter
//	iip_request_errors_total{path}        counter
//	iip_request_bytes_total{path,dir}     counter, dir is "in" or "out"
//	iip_request_rate{path}                gauge, requests/s over the last 5 s
//	iip_request_duration_seconds{path}    histogram
//	iip_connections                       gauge
//	iip_channels                          gauge
//
// The path label "*" is the whole server.
type Collector struct {
	s       *iip.Server
	buckets []float64
	bounds  []time.Duration

	requests, errors, bytes, rate, duration, conns, chans *prometheus.Desc
}

// NewCollector returns a collector for s (not nil); register it with a
// prometheus.Registerer. opts configure it (none: all defaults); buckets
// that are not strictly ascending are an error wrapping
// iip.ErrInvalidConfig.
func NewCollector(s *iip.Server, opts ...Option) (*Collector, error) {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.namespace == "" {
		o.namespace = DefaultNamespace
	}
	if len(o.buckets) == 0 {
		o.buckets = prometheus.DefBuckets
	}
	for i := 1; i < len(o.buckets); i++ {
		if o.buckets[i] <= o.buckets[i-1] {
			return nil, fmt.Errorf("iipprom: %w: WithBuckets %v are not strictly ascending", iip.ErrInvalidConfig, o.buckets)
		}
	}
	name := func(n string) string { return prometheus.BuildFQName(o.namespace, "", n) }
	c := &Collector{
		s:        s,
		buckets:  o.buckets,
		requests: prometheus.NewDesc(name("requests_total"), "Requests answered, by path.", []string{"path"}, o.constLabels),
		errors:   prometheus.NewDesc(name("request_errors_total"), "Requests answered with an error, by path.", []string{"path"}, o.constLabels),
		bytes:    prometheus.NewDesc(name("request_bytes_total"), "Request (in) and response (out) payload bytes, by path.", []string{"path", "dir"}, o.constLabels),
		rate:     prometheus.NewDesc(name("request_rate"), "Requests per second over the last 5 seconds, by path.", []string{"path"}, o.constLabels),
		duration: prometheus.NewDesc(name("request_duration_seconds"), "Time from a complete request to its written response, by path.", []string{"path"}, o.constLabels),
		conns:    prometheus.NewDesc(name("connections"), "Open connections.", nil, o.constLabels),
		chans:    prometheus.NewDesc(name("channels"), "Open channels (channel 0 not counted).", nil, o.constLabels),
	}
	for _, b := range o.buckets {
		c.bounds = append(c.bounds, time.Duration(b*float64(time.Second)))
	}
	return c, nil
}

// Describe sends the descriptors of every metric.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.errors, c.bytes, c.rate, c.duration, c.conns, c.chans} {
		ch <- d
	}
}

// Collect takes a snapshot of the server's statistics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(st.Connections))
	ch <- prometheus.MustNewConstMetric(c.chans, prometheus.GaugeValue, float64(st.Channels))
	for _, p := range append(st.Paths, st.Total) {
		ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(p.Count), p.Path)
		ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(p.Errors), p.Path)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(p.BytesIn), p.Path, "in")
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(p.BytesOut), p.Path, "out")
		ch <- prometheus.MustNewConstMetric(c.rate, prometheus.GaugeValue, p.Rate, p.Path)
		cum := p.CumulativeCounts(c.bounds)
		buckets := make(map[float64]uint64, len(cum))
		for i, b := range c.buckets {
			buckets[b] = cum[i]
		}
		sum := p.Mean.Seconds() * float64(p.Count)
		ch <- prometheus.MustNewConstHistogram(c.duration, p.Count, sum, buckets, p.Path)
	}
}
