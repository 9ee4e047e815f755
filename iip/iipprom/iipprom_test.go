package iipprom

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/seed857a6cbd/pocket/iip"

	"github.com/seed857a6cbd/pocket/iip/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

func TestCollector(t *testing.T) {
	s, err := iip.NewServer(iip.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	s.HandleFunc("/echo", func(ctx context.Context, r *iip.Request) ([]byte, error) { return r.Data, nil })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	defer func() { s.Close(); <-done }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := iip.Dial(ctx, l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 2 {
		if _, err := c.Do(ctx, "/echo", []byte("hi")); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewPedanticRegistry()
	col, err := NewCollector(s)
	if err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(col)
	want := `
# HELP iip_requests_total Requests answered, by path.
# TYPE iip_requests_total counter
iip_requests_total{path="*"} 2
iip_requests_total{path="/echo"} 2
# HELP iip_connections Open connections.
# TYPE iip_connections gauge
iip_connections 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "iip_requests_total", "iip_connections"); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "iip_request_duration_seconds" {
			for _, m := range mf.GetMetric() {
				if m.GetHistogram().GetSampleCount() != 2 {
					t.Fatalf("histogram count %d", m.GetHistogram().GetSampleCount())
				}
			}
			return
		}
	}
	t.Fatal("no duration histogram")
}

// TestCollectorOptions: the namespace, buckets and constant labels given
// as options name and shape the metrics; buckets out of order are an error
// wrapping iip.ErrInvalidConfig.
func TestCollectorOptions(t *testing.T) {
	s, err := iip.NewServer(iip.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.HandleFunc("/echo", func(ctx context.Context, r *iip.Request) ([]byte, error) { return r.Data, nil })
	col, err := NewCollector(s, WithNamespace("edge"), WithBuckets(0.01, 1), WithConstLabels(prometheus.Labels{"server": "a"}))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(col)
	want := `
# HELP edge_connections Open connections.
# TYPE edge_connections gauge
edge_connections{server="a"} 0
# HELP edge_request_duration_seconds Time from a complete request to its written response, by path.
# TYPE edge_request_duration_seconds histogram
edge_request_duration_seconds_bucket{path="*",server="a",le="0.01"} 0
edge_request_duration_seconds_bucket{path="*",server="a",le="1"} 0
edge_request_duration_seconds_bucket{path="*",server="a",le="+Inf"} 0
edge_request_duration_seconds_sum{path="*",server="a"} 0
edge_request_duration_seconds_count{path="*",server="a"} 0
edge_request_duration_seconds_bucket{path="/echo",server="a",le="0.01"} 0
edge_request_duration_seconds_bucket{path="/echo",server="a",le="1"} 0
edge_request_duration_seconds_bucket{path="/echo",server="a",le="+Inf"} 0
edge_request_duration_seconds_sum{path="/echo",server="a"} 0
edge_request_duration_seconds_count{path="/echo",server="a"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "edge_connections", "edge_request_duration_seconds"); err != nil {
		t.Fatal(err)
	}
	if _, err := NewCollector(s, WithBuckets(1, 0.5)); !errors.Is(err, iip.ErrInvalidConfig) {
		t.Fatalf("NewCollector with descending buckets: %v, want iip.ErrInvalidConfig", err)
	}
}
