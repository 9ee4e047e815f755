package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/redis"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/wire"
)

// readyTimeout bounds each readiness check.
const readyTimeout = 2 * time.Second

// newRegistry returns the Prometheus registry served on /metrics: etserver_build_info,
// Go runtime, process, SQL pool and Redis pool statistics, and the value cache's when
// it is on. The RPC call metrics join it
// with the dora API layer.
func newRegistry(b *wire.Backend) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfo())
	if b.SQLDB != nil {
		reg.MustRegister(collectors.NewDBStatsCollector(b.SQLDB.DB, b.SQLName))
	}
	if b.Redis != nil {
		reg.MustRegister(&redisPoolCollector{rdb: b.Redis})
	}
	if b.ValueCache != nil {
		reg.MustRegister(valueCacheCollector(b.ValueCache))
	}
	return reg
}

// valueCacheCollector exports the Redis value cache's statistics (cache.values_mib).
type valueCacheCollector func() redis.ValueCacheStats

var (
	vcHits      = prometheus.NewDesc("etserver_value_cache_hits_total", "Reads answered from the value cache.", nil, nil)
	vcMisses    = prometheus.NewDesc("etserver_value_cache_misses_total", "Reads that went to Redis while the value cache was on (also while it was bypassed for want of a live watch).", nil, nil)
	vcEvictions = prometheus.NewDesc("etserver_value_cache_evictions_total", "Entries dropped to stay within cache.values_mib.", nil, nil)
	vcInvalid   = prometheus.NewDesc("etserver_value_cache_invalidations_total", "Entries dropped because their key changed or the watch was lost, regained or flushed.", nil, nil)
	vcEntries   = prometheus.NewDesc("etserver_value_cache_entries", "Entries held.", nil, nil)
	vcBytes     = prometheus.NewDesc("etserver_value_cache_bytes", "Bytes the entries count (keys, values and a fixed overhead each).", nil, nil)
	vcBudget    = prometheus.NewDesc("etserver_value_cache_budget_bytes", "The cache's bound, cache.values_mib in bytes.", nil, nil)
	vcLive      = prometheus.NewDesc("etserver_value_cache_live", "1 while the watch reports every change (reads may hit), 0 while the cache is bypassed.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c valueCacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{vcHits, vcMisses, vcEvictions, vcInvalid, vcEntries, vcBytes, vcBudget, vcLive} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c valueCacheCollector) Collect(ch chan<- prometheus.Metric) {
	s := c()
	live := 0.0
	if s.Live {
		live = 1
	}
	ch <- prometheus.MustNewConstMetric(vcHits, prometheus.CounterValue, float64(s.Hits))
	ch <- prometheus.MustNewConstMetric(vcMisses, prometheus.CounterValue, float64(s.Misses))
	ch <- prometheus.MustNewConstMetric(vcEvictions, prometheus.CounterValue, float64(s.Evictions))
	ch <- prometheus.MustNewConstMetric(vcInvalid, prometheus.CounterValue, float64(s.Invalidations))
	ch <- prometheus.MustNewConstMetric(vcEntries, prometheus.GaugeValue, float64(s.Entries))
	ch <- prometheus.MustNewConstMetric(vcBytes, prometheus.GaugeValue, float64(s.Bytes))
	ch <- prometheus.MustNewConstMetric(vcBudget, prometheus.GaugeValue, float64(s.Budget))
	ch <- prometheus.MustNewConstMetric(vcLive, prometheus.GaugeValue, live)
}

// buildInfo is etserver_build_info{version,revision,goversion} 1: the module version and
// VCS revision of buildVersion and the Go version, to join with other series by instance.
func buildInfo() prometheus.Collector {
	version, revision := buildVersion()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "etserver_build_info",
		Help:        "Always 1; the labels say which etserver build runs.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()}})
	g.Set(1)
	return g
}

// redisPoolCollector exports go-redis pool statistics.
type redisPoolCollector struct{ rdb goredis.UniversalClient }

var (
	redisHits     = prometheus.NewDesc("etserver_redis_pool_hits_total", "Times a free connection was found in the pool.", nil, nil)
	redisMisses   = prometheus.NewDesc("etserver_redis_pool_misses_total", "Times a free connection was not found in the pool.", nil, nil)
	redisTimeouts = prometheus.NewDesc("etserver_redis_pool_timeouts_total", "Times a wait for a connection timed out.", nil, nil)
	redisTotal    = prometheus.NewDesc("etserver_redis_pool_connections", "Connections in the pool.", nil, nil)
	redisIdle     = prometheus.NewDesc("etserver_redis_pool_idle_connections", "Idle connections in the pool.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *redisPoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{redisHits, redisMisses, redisTimeouts, redisTotal, redisIdle} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *redisPoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.rdb.PoolStats()
	ch <- prometheus.MustNewConstMetric(redisHits, prometheus.CounterValue, float64(s.Hits))
	ch <- prometheus.MustNewConstMetric(redisMisses, prometheus.CounterValue, float64(s.Misses))
	ch <- prometheus.MustNewConstMetric(redisTimeouts, prometheus.CounterValue, float64(s.Timeouts))
	ch <- prometheus.MustNewConstMetric(redisTotal, prometheus.GaugeValue, float64(s.TotalConns))
	ch <- prometheus.MustNewConstMetric(redisIdle, prometheus.GaugeValue, float64(s.IdleConns))
}

// adminHandler serves /metrics, /healthz (the process is up), /readyz (every store
// answers a ping within readyTimeout; 503 naming the failures otherwise) and, when pprof
// is set (admin.pprof, --admin-pprof), /debug/pprof/.
func adminHandler(reg *prometheus.Registry, checks map[string]domain.Pinger, log *slog.Logger, pprofOn bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		names, failed := pingStores(r.Context(), checks)
		if len(failed) > 0 {
			log.Warn("readiness check failed", "failed", failed)
			http.Error(w, "not ready: "+strings.Join(failed, "; "), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready:", strings.Join(names, ", "))
	})
	if pprofOn {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// startAdmin listens on addr and serves h until Shutdown; it returns the bound address.
func startAdmin(addr string, h http.Handler, log *slog.Logger) (*http.Server, net.Addr, <-chan error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("admin: listening on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if err == http.ErrServerClosed {
			err = nil
		}
		done <- err
	}()
	return srv, ln.Addr(), done, nil
}
