package iipprom

import (
	"context"
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
	reg.MustRegister(NewCollector(s, nil))
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
