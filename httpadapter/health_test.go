package httpadapter

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/health"
)

func TestHealthCheck(t *testing.T) {
	hs := health.NewServer()
	srv := dora.NewServer(dora.WithLogger(quiet))
	health.RegisterHealthServer(srv, hs)
	hs.SetServingStatus("svc.up", health.HealthCheckResponse_SERVING)
	hs.SetServingStatus("svc.down", health.HealthCheckResponse_NOT_SERVING)
	client := doraClient(t, serveDora(t, srv))
	dead := doraClient(t, deadAddr(t))

	for _, tc := range []struct {
		name    string
		backend DoraConn
		service string
		method  string
		status  int
		want    string // the body's status, or the error code
	}{
		{"no backend", nil, "", http.MethodGet, http.StatusOK, "SERVING"},
		{"whole server", client, "", http.MethodGet, http.StatusOK, "SERVING"},
		{"service serving", client, "svc.up", http.MethodGet, http.StatusOK, "SERVING"},
		{"service not serving", client, "svc.down", http.MethodGet, http.StatusServiceUnavailable, "NOT_SERVING"},
		{"HEAD", client, "svc.down", http.MethodHead, http.StatusServiceUnavailable, ""},
		{"unknown service", client, "svc.never", http.MethodGet, http.StatusServiceUnavailable, "NotFound"},
		{"backend down", dead, "", http.MethodGet, http.StatusServiceUnavailable, "Unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ts := newAdapter(t, WithHealthCheck("/healthz", tc.backend, tc.service), WithCallTimeout(2*time.Second))
			r := do(t, nil, tc.method, ts.URL+"/healthz", "", nil, nil)
			if r.status != tc.status {
				t.Fatalf("status %d (%s), want %d", r.status, r.body, tc.status)
			}
			var got string
			switch {
			case tc.method == http.MethodHead:
				if r.body != "" {
					t.Fatalf("HEAD body %q", r.body)
				}
			case tc.want == "NotFound" || tc.want == "Unavailable":
				got = r.errBody(t).Code
			default:
				var b struct{ Status string }
				if err := json.Unmarshal([]byte(r.body), &b); err != nil {
					t.Fatalf("body %q: %v", r.body, err)
				}
				got = b.Status
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q (body %s)", got, tc.want, r.body)
			}
		})
	}
	// The health status follows the backend's.
	_, ts := newAdapter(t, WithHealthCheck("/healthz", client, "svc.up"))
	hs.SetServingStatus("svc.up", health.HealthCheckResponse_NOT_SERVING)
	if r := do(t, nil, http.MethodGet, ts.URL+"/healthz", "", nil, nil); r.status != http.StatusServiceUnavailable {
		t.Fatalf("after NOT_SERVING: status %d", r.status)
	}
	hs.Shutdown()
}

func TestHealthCheckOptions(t *testing.T) {
	for _, opts := range [][]Option{
		{WithHealthCheck("healthz", nil, "")},
		{WithHealthCheck("/m", nil, ""), WithMetricsPath("/m")},
	} {
		if _, err := NewServer(opts...); err == nil {
			t.Fatalf("NewServer accepted %d options", len(opts))
		}
	}
}
