package httpadapter

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed857a6cbd/pocket/httpadapter/internal/testkit"
	"github.com/seed857a6cbd/pocket/iip"
)

// holdBackend is an IIP server whose /hold handler signals entered and waits until release
// is called (release is idempotent and also runs when the test ends).
func holdBackend(t *testing.T) (client *iip.Client, entered <-chan struct{}, release func()) {
	t.Helper()
	in := make(chan struct{}, 16)
	rel := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(rel) }) }
	t.Cleanup(release)
	addr := startIIP(t, map[string]iip.HandlerFunc{
		"/hold": func(ctx context.Context, _ *iip.Request) ([]byte, error) {
			in <- struct{}{}
			select {
			case <-rel:
				return []byte("done"), nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		},
		"/echo": func(_ context.Context, r *iip.Request) ([]byte, error) { return r.Data, nil },
	})
	return iipClient(t, addr), in, release
}

func TestGracefulShutdown(t *testing.T) {
	client, entered, release := holdBackend(t)
	s, err := NewServer(WithLogger(quiet), WithIIPRoute(Route{Backend: client}))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveDone := make(chan error, 1)
	go func() { serveDone <- s.Serve(l) }()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}

	replies := make(chan reply, 1)
	go func() {
		resp, err := hc.Get("http://" + l.Addr().String() + "/hold")
		if err != nil {
			replies <- reply{status: -1, body: err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		replies <- reply{status: resp.StatusCode, body: string(b)}
	}()
	testkit.Recv(t, entered, waitTimeout, "the request to reach the backend")

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	shutDone := make(chan error, 1)
	go func() { shutDone <- s.Shutdown(ctx) }()
	if err := testkit.Recv(t, serveDone, waitTimeout, "Serve to return"); !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve returned %v, want http.ErrServerClosed", err)
	}
	if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
		c.Close()
		t.Error("a new connection was accepted during shutdown")
	}
	select {
	case err := <-shutDone:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	default:
	}
	release()
	if r := testkit.Recv(t, replies, waitTimeout, "the in-flight reply"); r.status != http.StatusOK || r.body != "done" {
		t.Fatalf("in-flight request got %d %q, want 200 done", r.status, r.body)
	}
	if err := testkit.Recv(t, shutDone, waitTimeout, "Shutdown"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	client, entered, release := holdBackend(t)
	_, ts := newAdapter(t, WithMetricsPath("/metrics"), WithIIPRoute(Route{Name: "main", Pattern: `^/(hold|echo)`, Backend: client}))
	if r := do(t, nil, http.MethodPost, ts.URL+"/echo", "", strings.NewReader("x"), nil); r.status != http.StatusOK {
		t.Fatalf("echo: %d", r.status)
	}
	do(t, nil, http.MethodGet, ts.URL+"/nowhere", "", nil, nil)
	done := make(chan reply, 1)
	go func() {
		resp, err := http.Get(ts.URL + "/hold")
		if err != nil {
			done <- reply{status: -1}
			return
		}
		resp.Body.Close()
		done <- reply{status: resp.StatusCode}
	}()
	testkit.Recv(t, entered, waitTimeout, "the held request")
	scrape := func() string { return do(t, nil, http.MethodGet, ts.URL+"/metrics", "", nil, nil).body }
	m := scrape()
	for _, want := range []string{
		`httpadapter_requests_total{code="200",route="main"} 1`,
		`httpadapter_requests_total{code="404",route="unrouted"} 1`,
		`httpadapter_request_duration_seconds_count{route="main"} 1`,
		`httpadapter_requests_in_flight{route="main"} 1`,
		`httpadapter_errors_total{error="no_route",route="unrouted"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, m)
		}
	}
	release()
	if r := testkit.Recv(t, done, waitTimeout, "the held reply"); r.status != http.StatusOK {
		t.Fatalf("hold: %d", r.status)
	}
	m = scrape()
	for _, want := range []string{
		`httpadapter_requests_total{code="200",route="main"} 2`,
		`httpadapter_requests_in_flight{route="main"} 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, m)
		}
	}
}

func TestRegisterer(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := NewServer(WithLogger(quiet), WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewServer(WithRegisterer(reg)); !errors.Is(err, ErrBadOption) {
		t.Errorf("second Server on one registry: %v, want ErrBadOption", err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	do(t, nil, http.MethodGet, ts.URL+"/x", "", nil, nil)
	m := do(t, nil, http.MethodGet, mountMetrics(t, s)+"/", "", nil, nil).body
	if !strings.Contains(m, `httpadapter_requests_total{code="404",route="unrouted"} 1`) {
		t.Errorf("MetricsHandler on the given registry:\n%s", m)
	}
}

// mountMetrics serves s.MetricsHandler on its own test server and returns its URL.
func mountMetrics(t *testing.T, s *Server) string {
	t.Helper()
	ts := httptest.NewServer(s.MetricsHandler())
	t.Cleanup(ts.Close)
	return ts.URL
}

func TestTLS(t *testing.T) {
	pki := testkit.NewPKI(t, "httpadapter test CA")
	addr := startIIP(t, map[string]iip.HandlerFunc{
		"/proto": func(_ context.Context, r *iip.Request) ([]byte, error) {
			_, h, err := DecodeHeader(r.Query)
			return []byte(h.Get("X-Forwarded-Proto")), err
		},
	})
	tests := []struct {
		name     string
		mutual   bool
		clientOK bool // the client presents its certificate
		wantErr  bool
	}{
		{"TLS", false, false, false},
		{"mTLS with a client certificate", true, true, false},
		{"mTLS without a client certificate", true, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srvTLS := &tls.Config{Certificates: []tls.Certificate{pki.Server}}
			if tc.mutual {
				srvTLS.ClientCAs, srvTLS.ClientAuth = pki.Pool, tls.RequireAndVerifyClientCert
			}
			s, err := NewServer(WithLogger(quiet), WithTLS(srvTLS), WithIIPRoute(Route{Backend: iipClient(t, addr)}))
			if err != nil {
				t.Fatal(err)
			}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			serveDone := make(chan error, 1)
			go func() { serveDone <- s.Serve(l) }()
			defer func() {
				s.Close()
				if err := testkit.Recv(t, serveDone, waitTimeout, "Serve"); !errors.Is(err, http.ErrServerClosed) {
					t.Errorf("Serve: %v", err)
				}
			}()
			cfg := &tls.Config{RootCAs: pki.Pool}
			if tc.clientOK {
				cfg.Certificates = []tls.Certificate{pki.Client}
			}
			tr := &http.Transport{TLSClientConfig: cfg}
			defer tr.CloseIdleConnections()
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+l.Addr().String()+"/proto", nil)
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if tc.wantErr {
				if err == nil {
					resp.Body.Close()
					t.Fatal("request without a client certificate succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || string(b) != "https" {
				t.Fatalf("got %d %q, want 200 https", resp.StatusCode, b)
			}
		})
	}
}

// chanHandler is an slog.Handler that sends every record to a channel.
type chanHandler chan slog.Record

func (h chanHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h chanHandler) Handle(_ context.Context, r slog.Record) error {
	h <- r.Clone()
	return nil
}
func (h chanHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h chanHandler) WithGroup(string) slog.Handler      { return h }

func TestAccessLog(t *testing.T) {
	records := make(chanHandler, 16)
	client, _, _ := holdBackend(t)
	s, err := NewServer(WithLogger(slog.New(records)), WithIIPRoute(Route{Name: "echo", Pattern: "^/echo", Backend: client}))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	do(t, nil, http.MethodPost, ts.URL+"/echo?a=1", "", strings.NewReader("hi"), nil)
	do(t, nil, http.MethodGet, ts.URL+"/nowhere", "", nil, nil)
	for _, want := range []map[string]string{
		{"method": "POST", "uri": "/echo?a=1", "route": "echo", "status": "200", "bytes": "2"},
		{"method": "GET", "uri": "/nowhere", "route": RouteUnrouted, "status": "404"},
	} {
		r := testkit.Recv(t, records, waitTimeout, "an access log record")
		got := map[string]string{}
		r.Attrs(func(a slog.Attr) bool { got[a.Key] = a.Value.String(); return true })
		if r.Message != "httpadapter: request" {
			t.Errorf("message %q", r.Message)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q (record %v)", k, got[k], v, got)
			}
		}
		if want["status"] != "200" && got["error"] == "" {
			t.Errorf("failed request logged without error: %v", got)
		}
	}
	s2, err := NewServer(WithLogger(slog.New(records)), WithAccessLog(false))
	if err != nil {
		t.Fatal(err)
	}
	ts2 := httptest.NewServer(s2.Handler())
	defer ts2.Close()
	do(t, nil, http.MethodGet, ts2.URL+"/x", "", nil, nil)
	select {
	case r := <-records:
		t.Errorf("access log off, yet logged %q", r.Message)
	default:
	}
}

func TestOptionsValidation(t *testing.T) {
	c := &iip.Client{}
	tests := []struct {
		name string
		opt  Option
	}{
		{"route without backend", WithIIPRoute(Route{Pattern: "^/"})},
		{"bad pattern", WithIIPRoute(Route{Pattern: "(", Backend: c})},
		{"zero body limit", WithMaxBodyBytes(0)},
		{"negative header limit", WithMaxHeaderBytes(-1)},
		{"buffered bytes not over the body limit", WithMaxBufferedBytes(DefaultMaxBodyBytes)},
		{"zero buffered bytes", WithMaxBufferedBytes(0)},
		{"zero call timeout", WithCallTimeout(0)},
		{"negative timeout", WithTimeouts(-1, 0, 0, 0)},
		{"unknown header format", WithHeaderFormat(HeaderFormat(9))},
		{"dora prefix without slashes", WithDoraPrefix("rpc")},
		{"metrics path without slash", WithMetricsPath("metrics")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewServer(tc.opt); !errors.Is(err, ErrBadOption) {
				t.Fatalf("NewServer: %v, want ErrBadOption", err)
			}
		})
	}
}

func TestServerLimits(t *testing.T) {
	client, _, _ := holdBackend(t)
	s, err := NewServer(WithLogger(quiet), WithMaxHeaderBytes(1024), WithTimeouts(time.Second, 2*time.Second, 5*time.Second, 5*time.Second),
		WithIIPRoute(Route{Backend: client}))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveDone := make(chan error, 1)
	go func() { serveDone <- s.Serve(l) }()
	defer func() {
		s.Close()
		testkit.Recv(t, serveDone, waitTimeout, "Serve")
	}()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	url := "http://" + l.Addr().String() + "/echo"
	if r := do(t, hc, http.MethodPost, url, "", strings.NewReader("ok"), nil); r.status != http.StatusOK || r.body != "ok" {
		t.Fatalf("small request: %d %q", r.status, r.body)
	}
	// net/http allows 4096 bytes of slack over MaxHeaderBytes
	big := http.Header{"X-Big": {strings.Repeat("b", 8<<10)}}
	if r := do(t, hc, http.MethodGet, url, "", nil, big); r.status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("8 KiB header with a 1 KiB limit: %d, want 431", r.status)
	}
}
