package httpadapter

// Hostile-peer tests of issue #14 ("Hostile peers: every server keeps bounded memory,
// descriptors and CPU, whatever its peers do"), rows 10, 15 and 18: the real adapter serves
// on loopback (Serve, with its http.Server limits), a real IIP server is behind it, and the
// attacks are hand-written HTTP bytes on raw TCP connections.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	rtmetrics "runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/httpadapter/internal/testkit"
	"github.com/seed857a6cbd/pocket/iip"
)

// serveAdapter serves s on a loopback listener (Serve, so the http.Server limits and
// timeouts apply) and returns its address; it is closed when the test ends.
func serveAdapter(t *testing.T, s *Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		if err := testkit.Recv(t, done, waitTimeout, "adapter Serve to return"); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("adapter Serve: %v", err)
		}
	})
	return l.Addr().String()
}

// serveIIP starts a real IIP server on loopback and returns it with its address; it is
// closed when the test ends (or earlier by the test).
func serveIIP(t *testing.T, handlers map[string]iip.HandlerFunc) (*iip.Server, string) {
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
		if err := testkit.Recv(t, done, waitTimeout, "iip Serve to return"); err != nil && !errors.Is(err, iip.ErrServerClosed) {
			t.Errorf("iip Serve: %v", err)
		}
	})
	return srv, l.Addr().String()
}

// rawConn is an attacker's HTTP/1.1 connection: hand-written requests, responses parsed
// with http.ReadResponse. Every read and write has a deadline.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatalf("raw write: %v", err)
	}
}

// answer reads one response and returns its status and body.
func (r *rawConn) answer() (int, string) {
	r.t.Helper()
	resp, err := http.ReadResponse(r.br, nil)
	if err != nil {
		r.t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("reading the answer's body: %v", err)
	}
	return resp.StatusCode, string(b)
}

// closedByServer reports whether the server closed the connection (EOF within the deadline).
func (r *rawConn) closedByServer() bool {
	_, err := r.br.ReadByte()
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err)
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// countingBackend counts the calls that reach a backend.
type countingBackend struct {
	inner IIPBackend
	calls atomic.Int64
	paths sync.Map // path (before '?') -> true
}

func (c *countingBackend) Do(ctx context.Context, path string, data []byte) ([]byte, error) {
	c.calls.Add(1)
	p, _, _ := strings.Cut(path, "?")
	c.paths.Store(p, true)
	return c.inner.Do(ctx, path, data)
}

// heapLive returns the live heap after a full collection (runtime/metrics /gc/heap/live:bytes).
func heapLive() uint64 {
	runtime.GC()
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()
}

// checkHeap fails the test when the live heap grew by more than budget since base.
func checkHeap(t *testing.T, what string, base uint64, budget uint64) {
	t.Helper()
	now := heapLive()
	grew := int64(now) - int64(base)
	t.Logf("%s: live heap %.1f MiB -> %.1f MiB (%+.1f MiB, budget %.0f MiB)", what,
		float64(base)/(1<<20), float64(now)/(1<<20), float64(grew)/(1<<20), float64(budget)/(1<<20))
	if grew > int64(budget) {
		t.Errorf("%s: live heap grew by %.1f MiB, over the budget of %.0f MiB", what, float64(grew)/(1<<20), float64(budget)/(1<<20))
	}
}

// goodClients sends n POSTs of body to url from 4 goroutines and fails the test unless
// every one is answered 200 with the body echoed.
func goodClients(t *testing.T, url string, n int) {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: waitTimeout}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 4 {
				body := fmt.Sprintf("good %d", i)
				resp, err := hc.Post(url, "text/plain", strings.NewReader(body))
				if err != nil {
					errs <- err
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || string(b) != body {
					errs <- fmt.Errorf("good request %d: %d %q", i, resp.StatusCode, b)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// logBuffer collects the text of every log record, at every level.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestHostileReservedPaths is issue #14 row 10: through the adapter, POST
// /sys/delete_channel deleted a pooled backend channel (other users then got 502s) and
// /sys/statis, /sys/connection_statis disclosed the backend's internals. Every /sys/ path is
// now answered 404 reserved_path before the body is read, and no call reaches the backend.
func TestHostileReservedPaths(t *testing.T) {
	srv, addr := serveIIP(t, map[string]iip.HandlerFunc{
		"/echo": func(_ context.Context, r *iip.Request) ([]byte, error) { return r.Data, nil },
	})
	backend := &countingBackend{inner: iipClient(t, addr)}
	logs := &logBuffer{}
	s, err := NewServer(WithLogger(logs.logger()), WithIIPRoute(Route{Name: "all", Backend: backend}))
	if err != nil {
		t.Fatal(err)
	}
	front := serveAdapter(t, s)
	goodClients(t, "http://"+front+"/echo", 32) // opens the pooled channels
	channels := srv.Stats().Channels
	calls := backend.calls.Load()
	base := heapLive()

	attacks := []string{
		"POST /sys/delete_channel HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}",
		"POST /sys/delete_channel?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}",
		"POST /sys/new_channel HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}",
		"GET /sys/statis HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /sys/connection_statis HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /sys/server_count HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /sys/ping HTTP/1.1\r\nHost: a\r\n\r\n",
		// A body the adapter never reads: declared, not sent.
		"POST /sys/delete_channel HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n",
	}
	for _, a := range attacks {
		c := dialRaw(t, front)
		c.send(a)
		status, body := c.answer()
		line, _, _ := strings.Cut(a, "\r\n")
		if status != http.StatusNotFound || !strings.Contains(body, `"code":"`+CodeReservedPath+`"`) {
			t.Errorf("%s: %d %s, want 404 %s", line, status, body, CodeReservedPath)
		}
		for _, leak := range []string{"connections", "uptime", "channel_id", "bytes_in"} {
			if strings.Contains(body, leak) {
				t.Errorf("%s: answer %q discloses backend internals (%q)", line, body, leak)
			}
		}
	}
	// The original attack repeated on one keep-alive connection, with good clients alongside.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		goodClients(t, "http://"+front+"/echo", 200)
	}()
	c := dialRaw(t, front)
	for i := range 200 {
		c.send("POST /sys/delete_channel HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}")
		if status, body := c.answer(); status != http.StatusNotFound {
			t.Fatalf("delete_channel #%d: %d %s, want 404", i, status, body)
		}
	}
	wg.Wait()

	if n := backend.calls.Load() - calls - 200; n != 0 {
		t.Errorf("%d reserved-path calls reached the backend, want 0", n)
	}
	backend.paths.Range(func(k, _ any) bool {
		if strings.HasPrefix(k.(string), ReservedIIPPrefix) {
			t.Errorf("the backend was called with %q", k)
		}
		return true
	})
	// A deleted channel would lower the count; the good clients running
	// alongside may raise it (the pool grows with their concurrency, which
	// depends on timing), so only a drop is an error.
	if got := srv.Stats().Channels; got < channels {
		t.Errorf("backend channels %d after the attack, %d before: channels were deleted", got, channels)
	}
	if !strings.Contains(logs.String(), `"status":404`) {
		t.Errorf("the refused requests were not logged with status 404: %s", logs.String())
	}
	checkHeap(t, "208 reserved-path requests", base, 8<<20)
}

// TestHostileIIPClientRefusesChannelPaths is the client side of issue #14 row 10: a pooled
// iip.Client (and an iip.LoadBalanceClient) refuses /sys/delete_channel and /sys/new_channel
// with an error wrapping iip.ErrBadPath that names the rule, sending nothing, so whatever
// forwards its callers' paths cannot break the pool.
func TestHostileIIPClientRefusesChannelPaths(t *testing.T) {
	srv, addr := serveIIP(t, map[string]iip.HandlerFunc{
		"/echo": func(_ context.Context, r *iip.Request) ([]byte, error) { return r.Data, nil },
	})
	client := iipClient(t, addr)
	lb, err := iip.NewLoadBalanceClient(addr, iip.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for _, b := range []IIPBackend{client, lb} {
		if _, err := b.Do(ctx, "/echo", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	channels, requests := srv.Stats().Channels, srv.Stats().Total.Count
	for _, b := range []IIPBackend{client, lb} {
		for _, p := range []string{"/sys/delete_channel", "/sys/delete_channel?now=1", "/sys/new_channel"} {
			_, err := b.Do(ctx, p, nil)
			if !errors.Is(err, iip.ErrBadPath) || !strings.Contains(fmt.Sprint(err), "pooled channel") {
				t.Errorf("%T.Do(%q): %v, want an error wrapping iip.ErrBadPath naming the pooled-channel rule", b, p, err)
			}
		}
		if resp, err := b.Do(ctx, "/echo", []byte("still fine")); err != nil || string(resp) != "still fine" {
			t.Errorf("%T: /echo after the refused calls: %q, %v", b, resp, err)
		}
	}
	st := srv.Stats()
	if st.Channels != channels {
		t.Errorf("server channels %d, %d before the refused calls", st.Channels, channels)
	}
	if n := st.Total.Count - requests; n != 2 {
		t.Errorf("server counted %d requests, want the 2 /echo calls only", n)
	}
}

// base64Fragments returns, for each of the three alignments a secret can have in a base64
// stream, the part of its encoding that depends on the secret's bytes only: a base64 text
// that carries the secret contains one of them.
func base64Fragments(secret string) []string {
	var out []string
	for i := range 3 {
		n := (len(secret) - i) / 3 * 3
		chunk := []byte(secret[i : i+n])
		out = append(out, base64.URLEncoding.EncodeToString(chunk), base64.StdEncoding.EncodeToString(chunk))
	}
	return out
}

// TestHostileErrorsRedactHeaders is issue #14 row 18: with the IIP backend down, the 502
// body and the access log carried the IIP path with __http_hdr__, the base64 of every
// forwarded header (Authorization and Cookie included). Error bodies and every log record
// now carry "__http_hdr__=REDACTED" instead.
func TestHostileErrorsRedactHeaders(t *testing.T) {
	const (
		token  = "Bearer tok-7f3a9c2e1d4b5a6f08e7"
		cookie = "session=ck-91b2c3d4e5f6a7b8c9d0"
	)
	logs := &logBuffer{}
	log := logs.logger()
	down, err := iip.NewLoadBalanceClient(deadAddr(t), iip.WithLogger(log), iip.WithDialTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	// A backend whose handler names its raw path in its error, and one that goes away.
	_, addr := serveIIP(t, map[string]iip.HandlerFunc{
		"/echo": func(_ context.Context, r *iip.Request) ([]byte, error) { return r.Data, nil },
		"/fails": func(_ context.Context, r *iip.Request) ([]byte, error) {
			return nil, errors.New("cannot serve " + r.RawPath)
		},
	})
	live, err := iip.NewClient(testkit.Context(t, waitTimeout), addr, iip.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	goneSrv, goneAddr := serveIIP(t, map[string]iip.HandlerFunc{
		"/gone": func(_ context.Context, r *iip.Request) ([]byte, error) { return r.Data, nil },
	})
	gone, err := iip.NewClient(testkit.Context(t, waitTimeout), goneAddr, iip.WithLogger(log), iip.WithDialTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Close()
	s, err := NewServer(WithLogger(log),
		WithIIPRoute(Route{Pattern: `^/down`, Backend: down}),
		WithIIPRoute(Route{Pattern: `^/gone`, Backend: gone}),
		WithIIPRoute(Route{Backend: live}))
	if err != nil {
		t.Fatal(err)
	}
	front := serveAdapter(t, s)
	base := heapLive()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := gone.Do(ctx, "/gone", []byte("warm")); err != nil { // a pooled channel to lose
		t.Fatal(err)
	}
	goneSrv.Close()

	tests := []struct {
		path   string
		status int
	}{
		{"/down?x=1", http.StatusBadGateway},
		{"/down", http.StatusBadGateway},
		{"/gone", http.StatusBadGateway},
		{"/fails?y=2", http.StatusInternalServerError},
	}
	var bodies strings.Builder
	for _, tc := range tests {
		c := dialRaw(t, front)
		c.send("POST " + tc.path + " HTTP/1.1\r\nHost: api.test\r\nAuthorization: " + token +
			"\r\nCookie: " + cookie + "\r\nContent-Length: 2\r\n\r\n{}")
		status, body := c.answer()
		if status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.path, status, body, tc.status)
		}
		bodies.WriteString(body + "\n")
	}
	goodClients(t, "http://"+front+"/echo", 32)

	for what, text := range map[string]string{"error bodies": bodies.String(), "logs": logs.String()} {
		for _, secret := range []string{token, cookie} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contain the header value %q:\n%s", what, secret, text)
			}
			for _, f := range base64Fragments(secret) {
				if strings.Contains(text, f) {
					t.Errorf("%s contain the base64 of the header value %q (%s):\n%s", what, secret, f, text)
				}
			}
		}
		for rest := text; ; {
			_, after, ok := strings.Cut(rest, HeaderParam)
			if !ok {
				break
			}
			if !strings.HasPrefix(after, "="+redacted) && !strings.HasPrefix(after, "%3D"+redacted) {
				t.Errorf("%s carry an __http_hdr__ value: %.80q", what, HeaderParam+after)
			}
			rest = after
		}
	}
	// Proof that the path was there to redact (else this test would prove nothing).
	if !strings.Contains(bodies.String(), HeaderParam+"="+redacted) {
		t.Errorf("no error body named the redacted path; bodies:\n%s", bodies.String())
	}
	checkHeap(t, "error answers", base, 8<<20)
}

func TestRedactHeaderArg(t *testing.T) {
	tests := []struct{ in, want string }{
		{"no argument", "no argument"},
		{"iip: /a?__http_hdr__=eyJhIjoiYiJ9: lost", "iip: /a?__http_hdr__=REDACTED: lost"},
		{`path "/a?x=1&__http_hdr__=eyJhIjoi%3D%3D" does not match`, `path "/a?x=1&__http_hdr__=REDACTED" does not match`},
		{"two: /a?__http_hdr__=AAA and /b?__http_hdr__=BBB.", "two: /a?__http_hdr__=REDACTED and /b?__http_hdr__=REDACTED."},
		{"escaped: __http_hdr__%3DAAAA end", "escaped: __http_hdr__%3DREDACTED end"},
		{"truncated: /a?__http_hd", "truncated: /a?__http_hd"},
		{"name only: __http_hdr__ and __http_hdr__=", "name only: __http_hdr__ and __http_hdr__="},
	}
	for _, tc := range tests {
		if got := redactHeaderArg(tc.in); got != tc.want {
			t.Errorf("redactHeaderArg(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestHostileSlowBody is issue #14 row 15: a request body that arrives slower than the read
// timeout was answered 499 "client closed request"; it is 408 request_timeout, the
// connection is closed, no backend is called. The attackers also declare a 4 MiB body and
// send one byte: the adapter allocates at most maxBodyPrealloc for a body before its bytes
// arrive, so 40 of them cost well under 40 × 4 MiB.
func TestHostileSlowBody(t *testing.T) {
	const (
		attackers   = 40
		readTimeout = 1500 * time.Millisecond
		declared    = DefaultMaxBodyBytes - 1
	)
	_, addr := serveIIP(t, map[string]iip.HandlerFunc{
		"/echo": func(_ context.Context, r *iip.Request) ([]byte, error) { return r.Data, nil },
		"/slow": func(_ context.Context, r *iip.Request) ([]byte, error) { return r.Data, nil },
	})
	backend := &countingBackend{inner: iipClient(t, addr)}
	entered := make(chan struct{}, attackers)
	logs := &logBuffer{}
	s, err := NewServer(WithLogger(logs.logger()), WithTimeouts(time.Second, readTimeout, 10*time.Second, 10*time.Second),
		WithIIPRoute(Route{Name: "slow", Pattern: "^/slow", Backend: backend, Match: func(*http.Request) bool {
			entered <- struct{}{} // the attacker's request reached the adapter's handler
			return true
		}}),
		WithIIPRoute(Route{Name: "echo", Backend: backend}))
	if err != nil {
		t.Fatal(err)
	}
	front := serveAdapter(t, s)
	base := heapLive()
	conns := make([]*rawConn, attackers)
	for i := range conns {
		conns[i] = dialRaw(t, front)
		conns[i].send(fmt.Sprintf("POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\nx", declared))
	}
	for range attackers {
		testkit.Recv(t, entered, waitTimeout, "the slow requests to reach the handler")
	}
	checkHeap(t, fmt.Sprintf("%d bodies declared %d bytes, 1 byte sent", attackers, declared), base, 16<<20)
	goodClients(t, "http://"+front+"/echo", 16) // served while the attackers hold their slots

	for i, c := range conns {
		status, body := c.answer()
		if status != http.StatusRequestTimeout || !strings.Contains(body, `"code":"`+CodeRequestTimeout+`"`) {
			t.Fatalf("slow body #%d: %d %s, want 408 %s", i, status, body, CodeRequestTimeout)
		}
		if !c.closedByServer() {
			t.Errorf("slow body #%d: the connection stays open after the 408", i)
		}
	}
	backend.paths.Range(func(k, _ any) bool {
		if k.(string) == "/slow" {
			t.Errorf("a slow body reached the backend")
		}
		return true
	})
	if l := logs.String(); strings.Contains(l, `"status":499`) || !strings.Contains(l, `"status":408`) {
		t.Errorf("the slow bodies are not logged as 408:\n%.2000s", l)
	}
	goodClients(t, "http://"+front+"/echo", 16)
}

// TestHostileBodyBudget is the server-wide budget of issue #14 ("a budget per connection and
// per server ... bytes buffered for incoming messages") for the adapter: 24 peers declare
// 4 MiB bodies, send 1 MiB and stall. With WithMaxBufferedBytes(8 MiB) at most 4 of them
// hold their buffers (2 MiB each); the others are answered 503 server_busy with Retry-After
// at once, the live heap stays near the budget, small requests are served meanwhile, and a
// big honest body passes once the budget is free again.
func TestHostileBodyBudget(t *testing.T) {
	const (
		attackers = 24
		budget    = 8 << 20
		holdMax   = 4 // budget / 2 MiB buffers
	)
	_, addr := serveIIP(t, map[string]iip.HandlerFunc{
		"/echo": func(_ context.Context, r *iip.Request) ([]byte, error) { return r.Data, nil },
	})
	backend := &countingBackend{inner: iipClient(t, addr)}
	s, err := NewServer(WithLogger(quiet), WithMaxBufferedBytes(budget),
		// A read timeout well past the refusals: an attacker whose 1 MiB is slow to arrive on
		// a loaded machine would otherwise time out (408) before it has sent enough to be
		// refused, and be counted as a holder.
		WithTimeouts(time.Second, 8*time.Second, 10*time.Second, 10*time.Second),
		WithIIPRoute(Route{Backend: backend}))
	if err != nil {
		t.Fatal(err)
	}
	front := serveAdapter(t, s)
	base := heapLive()

	type result struct {
		status     int
		retryAfter string
		err        error
	}
	results := make(chan result, attackers)
	chunk := strings.Repeat("b", 1<<20)
	for range attackers {
		go func() {
			c, err := net.DialTimeout("tcp", front, waitTimeout)
			if err != nil {
				results <- result{err: err}
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(3 * waitTimeout)) // past the holders' read timeout
			go func() {                                        // the body is written on its own: a refused peer's write may block
				_, _ = io.WriteString(c, fmt.Sprintf("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", DefaultMaxBodyBytes-1, chunk))
			}()
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				results <- result{err: err}
				return
			}
			resp.Body.Close()
			results <- result{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
		}()
	}
	busy, closed, timedOut := 0, 0, 0
	record := func(r result) {
		switch {
		case r.err != nil && (errors.Is(r.err, io.ErrUnexpectedEOF) || isReset(r.err)):
			// Refused too: net/http closes a connection whose unread body is over 256 KiB
			// after the answer, and on a loaded machine the close (RST, the peer's bytes
			// unread) can overtake the 503 before the peer reads it.
			closed++
		case r.err != nil:
			t.Errorf("attacker: %v", r.err)
		case r.status == http.StatusServiceUnavailable && r.retryAfter != "":
			busy++
		case r.status == http.StatusRequestTimeout:
			timedOut++
		default:
			t.Errorf("attacker answered %d (Retry-After %q), want 503 with Retry-After or 408", r.status, r.retryAfter)
		}
	}
	for range attackers - holdMax { // the refusals come first, the holders wait for the read timeout
		record(testkit.Recv(t, results, waitTimeout, "the attackers' answers"))
	}
	if timedOut != 0 {
		t.Fatalf("%d holders timed out before the refusals came: the budget let more than %d in", timedOut, holdMax)
	}
	checkHeap(t, fmt.Sprintf("%d peers holding 1 MiB of a declared 4 MiB body, budget %d MiB", attackers, budget>>20), base, budget+8<<20)
	goodClients(t, "http://"+front+"/echo", 16) // small bodies are not counted
	for range holdMax {
		record(testkit.Recv(t, results, waitTimeout, "the holders' answers"))
	}
	// On a loaded machine every refusal may come as a reset (see record), so the 503 itself
	// is checked by TestHostileBodyBudgetRefusal.
	if busy+closed < attackers-holdMax {
		t.Errorf("%d attackers refused with 503 and %d closed without answer, want at least %d refused", busy, closed, attackers-holdMax)
	}
	if n := s.buffered.Load(); n != 0 {
		t.Errorf("%d bytes still counted against the budget after every request ended", n)
	}
	big := strings.Repeat("B", 3<<20)
	r := do(t, nil, http.MethodPost, "http://"+front+"/echo", "", strings.NewReader(big), nil)
	if r.status != http.StatusOK || len(r.body) != len(big) {
		t.Fatalf("honest 3 MiB body after the attack: %d, %d bytes", r.status, len(r.body))
	}
	t.Logf("%d refused with 503, %d closed before reading it, %d held until 408", busy, closed, timedOut)
}

// TestHostileBodyBudgetRefusal: a request whose body would not fit in what is left of
// WithMaxBufferedBytes is answered 503 server_busy with Retry-After before any of its body
// is read. The refused peer sends none of it, so the close cannot overtake the answer (as
// it may for TestHostileBodyBudget's attackers). Both declare 1 MiB: net/http closes the
// connection of a refused request whose unread body is over 256 KiB instead of reading it.
func TestHostileBodyBudgetRefusal(t *testing.T) {
	const maxBody = 1 << 20
	_, addr := serveIIP(t, map[string]iip.HandlerFunc{
		"/echo": func(_ context.Context, r *iip.Request) ([]byte, error) { return r.Data, nil },
	})
	backend := &countingBackend{inner: iipClient(t, addr)}
	s, err := NewServer(WithLogger(quiet), WithMaxBodyBytes(maxBody), WithMaxBufferedBytes(maxBody+32<<10),
		WithIIPRoute(Route{Backend: backend}))
	if err != nil {
		t.Fatal(err)
	}
	front := serveAdapter(t, s)
	post := func(body int) (net.Conn, *bufio.Reader) {
		c, err := net.DialTimeout("tcp", front, waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(waitTimeout))
		req := fmt.Sprintf("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", maxBody, strings.Repeat("h", body))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		return c, bufio.NewReader(c)
	}
	// The holder's 600 KiB grow its buffer to 1 MiB, all reserved:
	// what is left of the budget is less than the next request's first 64 KiB.
	holder, _ := post(600 << 10)
	ctx := testkit.Context(t, waitTimeout)
	testkit.WaitFor(t, ctx, "the holder's reservation", func() bool { return s.buffered.Load() >= maxBody })
	_, br := post(0)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), CodeServerBusy) {
		t.Fatalf("a body over what is left of the budget: %d (Retry-After %q) %s, want 503 %s with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body, CodeServerBusy)
	}
	holder.Close()
	testkit.WaitFor(t, ctx, "the holder's reservation to be given back", func() bool { return s.buffered.Load() == 0 })
	if n := backend.calls.Load(); n != 0 {
		t.Errorf("the backend was called %d times, want 0", n)
	}
}
