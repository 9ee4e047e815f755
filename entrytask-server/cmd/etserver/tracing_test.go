package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/config"
)

// spanSink is an OTLP/HTTP receiver on 127.0.0.1 that keeps the server spans of
// service.name etserver, as "path name" pairs.
type spanSink struct {
	mu      sync.Mutex
	spans   []string
	metrics []string // metric names, from /v1/metrics
}

func (s *spanSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if r.URL.Path == "/v1/metrics" {
		s.serveMetrics(w, body, err)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err != nil || proto.Unmarshal(body, &req) != nil {
		http.Error(w, "bad export request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		svc := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				svc = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				if svc == "etserver" && sp.GetKind() == tracepb.Span_SPAN_KIND_SERVER {
					s.spans = append(s.spans, r.URL.Path+" "+sp.GetName())
				}
			}
		}
	}
	s.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// serveMetrics keeps the names of the metrics of service.name etserver.
func (s *spanSink) serveMetrics(w http.ResponseWriter, body []byte, err error) {
	var req colmetricpb.ExportMetricsServiceRequest
	if err != nil || proto.Unmarshal(body, &req) != nil {
		http.Error(w, "bad export request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	for _, rm := range req.GetResourceMetrics() {
		for _, kv := range rm.GetResource().GetAttributes() {
			if kv.GetKey() != "service.name" || kv.GetValue().GetStringValue() != "etserver" {
				continue
			}
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					s.metrics = append(s.metrics, m.GetName())
				}
			}
		}
	}
	s.mu.Unlock()
	out, _ := proto.Marshal(&colmetricpb.ExportMetricsServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// TestServeOTelMetrics: with otel.metrics_endpoint, dora/otel's RPC metrics are pushed
// when serve stops (and every 60 s before).
func TestServeOTelMetrics(t *testing.T) {
	sink := &spanSink{}
	rcv := httptest.NewServer(sink)
	defer rcv.Close()
	cfg, err := config.Load(config.Sources{Flags: map[string]any{"data_dir": t.TempDir(),
		"otel.metrics_endpoint": rcv.URL + "/v1/metrics"}})
	if err != nil {
		t.Fatal(err)
	}
	rpcAddr, _, stop := startServe(t, cfg)
	checkServing(t, rpcAddr)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if !slices.Contains(sink.metrics, "rpc.server.duration") {
		t.Errorf("no rpc.server.duration exported by the time serve returned; got %q", sink.metrics)
	}
	if len(sink.spans) != 0 {
		t.Errorf("spans exported without otel.endpoint: %q", sink.spans)
	}
}

// TestServeOTel: with otel.endpoint, or with only the standard OTEL_EXPORTER_OTLP_ENDPOINT,
// serve exports a server span of every call, and its spans are all exported by the time
// serve returns (the batch would otherwise wait 5 s).
func TestServeOTel(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config bool // otel.endpoint, else OTEL_EXPORTER_OTLP_ENDPOINT
	}{
		{"otel.endpoint", true},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &spanSink{}
			rcv := httptest.NewServer(sink)
			defer rcv.Close()
			flags := map[string]any{"data_dir": t.TempDir()}
			if tc.config {
				flags["otel.endpoint"] = rcv.URL + "/v1/traces"
			} else {
				t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL) // the exporter adds /v1/traces
			}
			cfg, err := config.Load(config.Sources{Flags: flags})
			if err != nil {
				t.Fatal(err)
			}
			rpcAddr, _, stop := startServe(t, cfg)
			checkServing(t, rpcAddr)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			sink.mu.Lock()
			defer sink.mu.Unlock()
			const want = "/v1/traces dora.health.v1.Health/Check"
			for _, s := range sink.spans {
				if s == want {
					return
				}
			}
			t.Errorf("no %q server span exported by the time serve returned; got %q", want, sink.spans)
		})
	}
}
