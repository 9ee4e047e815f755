package httpadapter

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/iip"
)

// traceEcho answers Say with the traceparent and tracestate metadata it got.
type traceEcho struct{ echo.UnimplementedEchoServer }

func (traceEcho) Say(ctx context.Context, _ *echo.SayRequest) (*echo.SayResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	return &echo.SayResponse{Text: md.Get("traceparent") + "|" + md.Get("tracestate")}, nil
}

const (
	testTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	testTracestate  = "congo=t61rcWkgMzE"
)

func TestTraceContextToDora(t *testing.T) {
	srv := dora.NewServer(dora.WithLogger(quiet))
	echo.RegisterEchoServer(srv, traceEcho{})
	addr := serveDora(t, srv)
	client := doraClient(t, addr)
	hdr := http.Header{"Traceparent": {testTraceparent}, "Tracestate": {testTracestate}}
	for _, tc := range []struct {
		name string
		opts []Option
		want string
	}{
		{"default: forwarded", nil, testTraceparent + "|" + testTracestate},
		{"off", []Option{WithTraceContext(false)}, "|"},
		{"off but named", []Option{WithTraceContext(false), WithDoraHeaders("traceparent")}, testTraceparent + "|"},
		{"also named: once", []Option{WithDoraHeaders("Traceparent", "tracestate")}, testTraceparent + "|" + testTracestate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ts := newAdapter(t, append([]Option{WithDora(client)}, tc.opts...)...)
			r := do(t, nil, http.MethodPost, ts.URL+sayPath, "", strings.NewReader(`{}`), hdr)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if got := sayText(t, r); got != tc.want {
				t.Fatalf("the dora server got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTraceContextToIIP(t *testing.T) {
	addr := startIIP(t, map[string]iip.HandlerFunc{
		"/t": func(_ context.Context, r *iip.Request) ([]byte, error) {
			_, h, err := DecodeHeader(r.Query)
			if err != nil {
				return nil, err
			}
			return []byte(h.Get("Traceparent") + "|" + h.Get("Tracestate") + "|" + h.Get("X-Other")), nil
		},
	})
	backend := iipClient(t, addr)
	hdr := http.Header{"Traceparent": {testTraceparent}, "Tracestate": {testTracestate}, "X-Other": {"o"}}
	for _, tc := range []struct {
		name string
		opts []Option
		want string
	}{
		{"every header", nil, testTraceparent + "|" + testTracestate + "|o"},
		{"allow-list without them", []Option{WithIIPHeaders("Authorization")}, testTraceparent + "|" + testTracestate + "|"},
		{"allow-list, off", []Option{WithIIPHeaders("Authorization"), WithTraceContext(false)}, "||"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ts := newAdapter(t, append([]Option{WithIIPRoute(Route{Backend: backend})}, tc.opts...)...)
			r := do(t, nil, http.MethodGet, ts.URL+"/t", "", nil, hdr)
			if r.status != http.StatusOK || r.body != tc.want {
				t.Fatalf("status %d, the IIP server got %q; want %q", r.status, r.body, tc.want)
			}
		})
	}
}
