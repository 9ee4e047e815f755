// Package iipprom exposes an iip.Server's statistics as a Prometheus
// collector. It lives in its own package so that the iip core does not
// depend on the Prometheus client.
package iipprom

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/seed857a6cbd/pocket/iip"
)

// DefaultNamespace prefixes every metric name unless Options.Namespace is set.
const DefaultNamespace = "iip"

// Options configures a Collector; zero values mean defaults and a nil
// *Options means all defaults.
type Options struct {
	// Namespace prefixes the metric names. Default DefaultNamespace.
	Namespace string
	// Buckets are the upper bounds, in seconds, of the request duration
	// histogram. Default prometheus.DefBuckets.
	Buckets []float64
	// ConstLabels are added to every metric (for example the server name).
	ConstLabels prometheus.Labels
}

// Collector is a prometheus.Collector reading an iip.Server's statistics
// at scrape time. Metrics (with namespace "iip"):
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

// NewCollector returns a collector for s; register it with a
// prometheus.Registerer.
func NewCollector(s *iip.Server, opts *Options) *Collector {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if len(o.Buckets) == 0 {
		o.Buckets = prometheus.DefBuckets
	}
	name := func(n string) string { return prometheus.BuildFQName(o.Namespace, "", n) }
	c := &Collector{
		s:        s,
		buckets:  o.Buckets,
		requests: prometheus.NewDesc(name("requests_total"), "Requests answered, by path.", []string{"path"}, o.ConstLabels),
		errors:   prometheus.NewDesc(name("request_errors_total"), "Requests answered with an error, by path.", []string{"path"}, o.ConstLabels),
		bytes:    prometheus.NewDesc(name("request_bytes_total"), "Request (in) and response (out) payload bytes, by path.", []string{"path", "dir"}, o.ConstLabels),
		rate:     prometheus.NewDesc(name("request_rate"), "Requests per second over the last 5 seconds, by path.", []string{"path"}, o.ConstLabels),
		duration: prometheus.NewDesc(name("request_duration_seconds"), "Time from a complete request to its written response, by path.", []string{"path"}, o.ConstLabels),
		conns:    prometheus.NewDesc(name("connections"), "Open connections.", nil, o.ConstLabels),
		chans:    prometheus.NewDesc(name("channels"), "Open channels (channel 0 not counted).", nil, o.ConstLabels),
	}
	for _, b := range o.Buckets {
		c.bounds = append(c.bounds, time.Duration(b*float64(time.Second)))
	}
	return c
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
