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

// BenchmarkProxyIIP is the same call through the adapter's handler (ServeHTTP in process,
// __http_hdr__ on, access log off): the difference to BenchmarkDirectIIP is the adapter's
// overhead without the HTTP transport. httptest.NewRequest/NewRecorder are counted too.
func BenchmarkProxyIIP(b *testing.B) {
	s, err := NewServer(WithLogger(quiet), WithAccessLog(false), WithIIPRoute(Route{Pattern: "^/echo", Backend: benchIIPBackend(b)}))
	if err != nil {
		b.Fatal(err)
	}
	rd := bytes.NewReader(benchPayload)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchPayload)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rd.Reset(benchPayload)
		req := httptest.NewRequest(http.MethodPost, "/echo?id=7", rd)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
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
	rd := bytes.NewReader(body)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rd.Reset(body)
		req := httptest.NewRequest(http.MethodPost, sayPath, rd)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
