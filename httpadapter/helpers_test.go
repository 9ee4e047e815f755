package httpadapter

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/httpadapter/internal/testkit"
	"github.com/seed857a6cbd/pocket/iip"
)

// quiet is a logger for servers and clients under test.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// waitTimeout bounds every wait of the tests.
const waitTimeout = 10 * time.Second

// startIIP starts a real IIP server on loopback with handlers registered by path; it is
// closed when the test ends.
func startIIP(t testing.TB, handlers map[string]iip.HandlerFunc) string {
	t.Helper()
	srv, err := iip.NewServer(iip.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	for p, h := range handlers {
		srv.Handle(p, h)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil && !errors.Is(err, iip.ErrServerClosed) {
			t.Errorf("iip Serve: %v", err)
		}
	})
	return l.Addr().String()
}

// iipClient returns a client of addr closed when the test ends.
func iipClient(t testing.TB, addr string) *iip.Client {
	t.Helper()
	c, err := iip.NewClient(testkit.Context(t, waitTimeout), addr, iip.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// newAdapter builds a Server (quiet logger unless overridden) behind an httptest server.
func newAdapter(t testing.TB, opts ...Option) (*Server, *httptest.Server) {
	t.Helper()
	s, err := NewServer(append([]Option{WithLogger(quiet)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts
}

// reply is a completed HTTP exchange.
type reply struct {
	status int
	header http.Header
	body   string
}

// errBody decodes an error body; it fails the test when the body is not the documented shape.
func (r reply) errBody(t testing.TB) errorDetail {
	t.Helper()
	var b struct {
		Error *errorDetail `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.body), &b); err != nil || b.Error == nil {
		t.Fatalf("error body %q is not {\"error\":{...}}: %v", r.body, err)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
	return *b.Error
}

// do sends one request and reads the whole answer.
func do(t testing.TB, c *http.Client, method, url, host string, body io.Reader, hdr http.Header) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if host != "" {
		req.Host = host
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, string(b)}
}

// echoServer is the dora echo service of the tests. Say answers "<text>|<x-user metadata>",
// sets the response header metadata x-echo (and x-data-bin: each x-data-bin value
// reversed), and obeys commands in the text:
// "fail:<CodeName>" fails with that code, "slow" waits for its context.
type echoServer struct {
	echo.UnimplementedEchoServer
}

func (echoServer) Say(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
	if name, ok := strings.CutPrefix(in.Text, "fail:"); ok {
		c, err := codes.Parse(name)
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		return nil, status.Error(c, "told to fail with "+name)
	}
	if in.Text == "details" {
		known, _ := anypb.New(wrapperspb.String("text: must not be details"))
		unknown := &anypb.Any{TypeUrl: "type.googleapis.com/no.Such", Value: []byte{1, 2}}
		return nil, status.FromAny(codes.FailedPrecondition, "with details", []*anypb.Any{known, unknown}).Err()
	}
	if in.Text == "slow" {
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	md, _ := metadata.FromIncomingContext(ctx)
	hdr := metadata.Pairs("x-echo", "yes", "x-hidden", "no")
	if vs := md.Values("x-data-bin"); len(vs) > 0 { // binary values back, each reversed
		for _, v := range vs {
			b := []byte(v)
			slices.Reverse(b)
			hdr.Append("x-data-bin", string(b))
		}
	}
	if err := dora.SetHeader(ctx, hdr); err != nil {
		return nil, err
	}
	return &echo.SayResponse{Text: in.Text + "|" + md.Get("x-user") + "|" + md.Get("x-secret"), Blob: in.Blob}, nil
}

// startDora starts a real dora server on loopback (with the echo service unless bare) and
// returns its address; it stops when the test ends.
func startDora(t testing.TB, bare bool) string {
	t.Helper()
	srv := dora.NewServer(dora.WithLogger(quiet))
	if !bare {
		echo.RegisterEchoServer(srv, echoServer{})
	}
	return serveDora(t, srv)
}

// serveDora serves srv on a loopback port and returns its address; srv stops when the test
// ends.
func serveDora(t testing.TB, srv *dora.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-done; err != nil {
			t.Errorf("dora Serve: %v", err)
		}
	})
	return l.Addr().String()
}

// doraClient returns a dora client of addr closed when the test ends.
func doraClient(t testing.TB, addr string, opts ...dora.ClientOption) *dora.Client {
	t.Helper()
	c, err := dora.NewClient(addr, append([]dora.ClientOption{dora.WithLogger(quiet)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
