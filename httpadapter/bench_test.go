package httpadapter

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/iip"
)

// benchPayload is the request body of the IIP benchmarks (128 bytes of JSON).
var benchPayload = []byte(`{"user":"bench","items":[1,2,3,4,5,6,7,8,9,10],"note":"` + strings.Repeat("x", 128-63) + `"}`)

func benchIIPBackend(b *testing.B) *iip.Client {
	addr := startIIP(b, map[string]iip.HandlerFunc{
		"/echo": func(_ context.Context, r *iip.Request) ([]byte, error) { return r.Data, nil },
	})
	return iipClient(b, addr)
}

// BenchmarkDirectIIP is the baseline: iip.Client.Do on a loopback server.
func BenchmarkDirectIIP(b *testing.B) {
	c := benchIIPBackend(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(benchPayload)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Do(ctx, "/echo?id=7", benchPayload); err != nil {
			b.Fatal(err)
		}
	}
}

// benchWriter is a reusable http.ResponseWriter that keeps only the status.
type benchWriter struct {
	h    http.Header
	code int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }

// serveBench calls s.ServeHTTP b.N times with one request (the body rewound each time) and
// one writer, so that only the adapter's own work is measured.
func serveBench(b *testing.B, s *Server, target string, body []byte) {
	rd := bytes.NewReader(body)
	req := httptest.NewRequest(http.MethodPost, target, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "bench")
	rc := io.NopCloser(rd)
	w := &benchWriter{h: make(http.Header)}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rd.Reset(body)
		req.Body = rc
		clear(w.h)
		s.ServeHTTP(w, req)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}

// BenchmarkProxyIIP is the same call through the adapter's handler (ServeHTTP in process,
// __http_hdr__ on, Content-Type sniffed, metrics on, access log off): the difference to
// BenchmarkDirectIIP is the adapter's overhead without the HTTP transport.
func BenchmarkProxyIIP(b *testing.B) {
	s, err := NewServer(WithLogger(quiet), WithAccessLog(false), WithIIPRoute(Route{Pattern: "^/echo", Backend: benchIIPBackend(b)}))
	if err != nil {
		b.Fatal(err)
	}
	serveBench(b, s, "/echo?id=7", benchPayload)
}

// BenchmarkProxyIIPHTTP is the whole path a user sees: an HTTP client on loopback, the
// adapter, the IIP server.
func BenchmarkProxyIIPHTTP(b *testing.B) {
	_, ts := newAdapter(b, WithAccessLog(false), WithIIPRoute(Route{Pattern: "^/echo", Backend: benchIIPBackend(b)}))
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	rd := bytes.NewReader(benchPayload)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchPayload)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rd.Reset(benchPayload)
		resp, err := hc.Post(ts.URL+"/echo?id=7", "application/json", rd)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkDirectDora is the baseline: the generated echo client on a loopback dora server.
func BenchmarkDirectDora(b *testing.B) {
	c := echo.NewEchoClient(doraClient(b, startDora(b, false)))
	ctx := context.Background()
	req := &echo.SayRequest{Text: "hello dora", Blob: benchPayload}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Say(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJSONDora is the same call through the adapter's handler: protojson decoding into
// a dynamicpb message, the dora call, protojson encoding (ServeHTTP in process, access log
// off).
func BenchmarkJSONDora(b *testing.B) {
	s, err := NewServer(WithLogger(quiet), WithAccessLog(false), WithDora(doraClient(b, startDora(b, false))))
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"text":"hello dora","blob":"` + base64.StdEncoding.EncodeToString(benchPayload) + `"}`)
	serveBench(b, s, sayPath, body)
}

// echoBackend is an in-process IIPBackend that answers the request data.
type echoBackend struct{}

func (echoBackend) Do(_ context.Context, _ string, data []byte) ([]byte, error) { return data, nil }

// BenchmarkProxyIIPNop is the adapter alone: ServeHTTP with an in-process backend, no
// network; it is the CPU and allocation cost the adapter adds to every IIP call.
func BenchmarkProxyIIPNop(b *testing.B) {
	s, err := NewServer(WithLogger(quiet), WithAccessLog(false), WithIIPRoute(Route{Pattern: "^/echo", Backend: echoBackend{}}))
	if err != nil {
		b.Fatal(err)
	}
	serveBench(b, s, "/echo?id=7", benchPayload)
}
