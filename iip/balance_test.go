package iip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/iip/internal/testkit"
	"github.com/seed857a6cbd/pocket/lbclient"
)

// lbServer is an IIP server on a fixed loopback port that can be killed and
// restarted on the same port. /who answers its name, /fail fails in the
// handler, /timeout answers error 103, /slow blocks until its context ends.
type lbServer struct {
	t    testing.TB
	name string
	addr string

	entered chan struct{} // one token per /slow call that started

	mu      sync.Mutex
	srv     *Server
	done    chan error
	gen     int           // incarnation, from 0
	hits    []int         // /who calls per incarnation
	firstOK chan struct{} // closed at the first /who of the current incarnation
}

func startLBServer(t testing.TB, name string) *lbServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &lbServer{t: t, name: name, addr: l.Addr().String(), entered: make(chan struct{}, 1024), gen: -1}
	s.serve(l)
	t.Cleanup(s.kill)
	return s
}

func (s *lbServer) serve(l net.Listener) {
	srv := newServerT(s.t)
	s.mu.Lock()
	s.gen++
	gen := s.gen
	s.hits = append(s.hits, 0)
	first := make(chan struct{})
	s.firstOK = first
	s.mu.Unlock()
	var once sync.Once
	srv.HandleFunc("/who", func(ctx context.Context, r *Request) ([]byte, error) {
		s.mu.Lock()
		s.hits[gen]++
		s.mu.Unlock()
		once.Do(func() { close(first) })
		return []byte(s.name), nil
	})
	srv.HandleFunc("/echo", func(ctx context.Context, r *Request) ([]byte, error) { return r.Data, nil })
	srv.HandleFunc("/fail", func(ctx context.Context, r *Request) ([]byte, error) {
		return nil, errors.New("boom")
	})
	srv.HandleFunc("/timeout", func(ctx context.Context, r *Request) ([]byte, error) {
		return nil, &Error{Code: CodeTimeout, Message: "downstream too slow"}
	})
	srv.HandleFunc("/slow", func(ctx context.Context, r *Request) ([]byte, error) {
		s.entered <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	s.mu.Lock()
	s.srv, s.done = srv, done
	s.mu.Unlock()
}

// kill closes the server and waits for Serve to return.
func (s *lbServer) kill() {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.srv, s.done = nil, nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	_ = srv.Close()
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		s.t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
}

// restart serves a new incarnation on the same port.
func (s *lbServer) restart() {
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.serve(l)
}

func (s *lbServer) hitsOf(gen int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[gen]
}

func (s *lbServer) first() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.firstOK
}

func targetOf(servers []*lbServer, weights []int) string {
	parts := make([]string, len(servers))
	for i, s := range servers {
		parts[i] = fmt.Sprintf("%s#%d", s.addr, weights[i])
	}
	return strings.Join(parts, ",")
}

// newLBT returns NewLoadBalanceClient(target, opts...), with a quiet
// logger unless opts set another.
func newLBT(t testing.TB, target string, opts ...ClientOption) *LoadBalanceClient {
	t.Helper()
	lb, err := NewLoadBalanceClient(target, append([]ClientOption{WithLogger(quietLogger())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lb.Close() })
	return lb
}

func TestBalanceWeightsRoundRobin(t *testing.T) {
	const (
		calls   = 6000
		workers = 4
	)
	servers := []*lbServer{startLBServer(t, "a"), startLBServer(t, "b"), startLBServer(t, "c")}
	weights := []int{3, 2, 1}
	lb := newLBT(t, targetOf(servers, weights), WithPicker(lbclient.PickRoundRobin))
	var wg sync.WaitGroup
	var next atomic.Int64
	errc := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= calls {
				if _, err := lb.Do(testCtx(t), "/who", nil); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	stats := lb.Stats()
	for i, s := range servers {
		want := float64(calls) * float64(weights[i]) / 6
		got := float64(s.hitsOf(0))
		if got < want*0.95 || got > want*1.05 {
			t.Errorf("server %s (weight %d) got %v calls, want %v ±5%%", s.name, weights[i], got, want)
		}
		if stats[i].Successes != uint64(got) || stats[i].Failures != 0 {
			t.Errorf("stats %+v, want %v successes", stats[i], got)
		}
	}
}

func TestBalanceKilledBackendEjectedAndRestored(t *testing.T) {
	const (
		workers   = 4
		threshold = 3
	)
	servers := []*lbServer{startLBServer(t, "victim"), startLBServer(t, "b"), startLBServer(t, "c")}
	victim := servers[0]
	lb := newLBT(t, targetOf(servers, []int{1, 1, 1}), WithBalancer(lbclient.WithFailureThreshold(threshold), lbclient.WithEjection(20*time.Millisecond, 200*time.Millisecond)))

	var (
		killed            atomic.Bool
		calls, failures   atomic.Int64
		warm, ejected     = make(chan struct{}), make(chan struct{})
		warmOnce, ejOnce  sync.Once
		stop              = make(chan struct{})
		wg                sync.WaitGroup
		unexpected        = make(chan error, workers)
		ctx               = testCtx(t)
		victimWarmEnough  = func() bool { return victim.hitsOf(0) > 20 }
		victimEjectedOnce = func() bool { return lb.Stats()[0].Ejections > 0 }
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := lb.Do(ctx, "/who", nil)
				switch {
				case err == nil && (string(resp) == "victim" || string(resp) == "b" || string(resp) == "c"):
				case err != nil && killed.Load() && IsBackendFailure(err):
					failures.Add(1)
				default:
					unexpected <- fmt.Errorf("resp %q, err %v (killed %v)", resp, err, killed.Load())
					return
				}
				if calls.Add(1) >= 300 && victimWarmEnough() {
					warmOnce.Do(func() { close(warm) })
				}
				if killed.Load() && victimEjectedOnce() {
					ejOnce.Do(func() { close(ejected) })
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	testkit.Recv(t, warm, testTimeout, "300 calls before the kill")
	killed.Store(true)
	victim.kill()
	testkit.Recv(t, ejected, testTimeout, "the killed backend to be ejected")
	n := failures.Load()
	t.Logf("%d calls failed before the ejection", n)
	if n > 2*workers+threshold {
		t.Fatalf("%d calls failed, want at most %d (calls in flight at the kill, calls retried out)", n, 2*workers+threshold)
	}
	// Ejected: calls started now all succeed on the others (trials of the
	// dead backend fail to dial and are sent elsewhere).
	for i := range 200 {
		resp, err := lb.Do(ctx, "/who", nil)
		if err != nil || string(resp) == "victim" {
			t.Fatalf("call %d after ejection: %q, %v", i, resp, err)
		}
	}
	if h := lb.Stats()[0].Health; h == lbclient.Healthy {
		t.Fatalf("killed backend is %v", h)
	}

	restarted := time.Now()
	victim.restart()
	testkit.Recv(t, victim.first(), time.Second, "a successful call on the restarted backend within 1 s")
	t.Logf("restarted backend served again after %v", time.Since(restarted))
	select {
	case err := <-unexpected:
		t.Fatal(err)
	default:
	}
}

// clientOf returns the open backend Client for addr (picking until the
// balancer hands it out; each pick counts as a success).
func clientOf(t *testing.T, lb *LoadBalanceClient, addr string) *Client {
	t.Helper()
	for range 100 {
		l, err := lb.b.Pick(testCtx(t), "")
		if err != nil {
			t.Fatal(err)
		}
		l.Done(nil)
		if l.Addr == addr {
			return l.Conn
		}
	}
	t.Fatalf("no client for %s", addr)
	return nil
}

func TestBalanceNotSentRetriedElsewhere(t *testing.T) {
	for _, tc := range []struct {
		name      string
		attempts  []lbclient.Option // none: the default
		wantFails bool
	}{
		{name: "default retries", wantFails: false},
		{name: "retries disabled", attempts: []lbclient.Option{lbclient.WithPickAttempts(1)}, wantFails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := startLBServer(t, "a"), startLBServer(t, "b")
			lb := newLBT(t, targetOf([]*lbServer{a, b}, []int{1, 1}), WithPicker(lbclient.PickRoundRobin), WithBalancer(tc.attempts...), WithBalancer(lbclient.WithFailureThreshold(100)))
			for range 4 {
				if _, err := lb.Do(testCtx(t), "/who", nil); err != nil {
					t.Fatal(err)
				}
			}
			ca := clientOf(t, lb, a.addr)
			a.kill()
			ca.mu.Lock()
			conns := append([]*Conn(nil), ca.conns...)
			ca.mu.Unlock()
			for _, c := range conns {
				testkit.Recv(t, c.Done(), testTimeout, "the killed server's connection to end")
			}
			// Every call picked for a now fails to dial there: it never left.
			fails := 0
			for range 10 {
				resp, err := lb.Do(testCtx(t), "/who", nil)
				switch {
				case err == nil && string(resp) == "b":
				case err != nil && errors.Is(err, syscall.ECONNREFUSED) && IsBackendFailure(err):
					fails++
				default:
					t.Fatalf("resp %q, err %v", resp, err)
				}
			}
			if (fails > 0) != tc.wantFails {
				t.Fatalf("%d calls failed, want failures: %v", fails, tc.wantFails)
			}
			if st := lb.Stats()[0]; st.Failures == 0 {
				t.Fatalf("no failure recorded for the killed backend: %+v", st)
			}
		})
	}
}

func TestBalanceHashByQueryParam(t *testing.T) {
	servers := []*lbServer{startLBServer(t, "a"), startLBServer(t, "b"), startLBServer(t, "c")}
	lb := newLBT(t, targetOf(servers, []int{1, 1, 1}), WithPicker(lbclient.PickHash), WithHashQueryParam("uid"))
	ctx := testCtx(t)
	owner := map[string]string{}
	seen := map[string]int{}
	for pass := range 3 {
		for k := range 200 {
			uid := fmt.Sprintf("user-%d", k)
			resp, err := lb.Do(ctx, "/who?x=1&uid="+uid+"&y=2", nil)
			if err != nil {
				t.Fatal(err)
			}
			if pass == 0 {
				owner[uid] = string(resp)
				seen[string(resp)]++
			} else if owner[uid] != string(resp) {
				t.Fatalf("key %s moved from %s to %s", uid, owner[uid], resp)
			}
		}
	}
	if len(seen) != 3 {
		t.Fatalf("keys spread over %v, want all three servers", seen)
	}
	// WithHashKey (a client IP) wins over the query parameter.
	ipCtx := WithHashKey(ctx, "192.0.2.7")
	var first string
	for k := range 50 {
		resp, err := lb.Do(ipCtx, fmt.Sprintf("/who?uid=user-%d", k), nil)
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			first = string(resp)
		} else if string(resp) != first {
			t.Fatalf("hash key ignored: %s then %s", first, resp)
		}
	}
}

func TestBalanceApplicationErrorsDoNotEject(t *testing.T) {
	servers := []*lbServer{startLBServer(t, "a"), startLBServer(t, "b")}
	lb := newLBT(t, targetOf(servers, []int{1, 1}), WithBalancer(lbclient.WithFailureThreshold(2)))
	ctx := testCtx(t)
	for _, tc := range []struct {
		name string
		path string
		want error
	}{
		{name: "handler error 102", path: "/fail", want: ErrHandler},
		{name: "no handler 105", path: "/missing", want: ErrNoHandler},
		{name: "server timeout 103", path: "/timeout", want: ErrTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 20 {
				resp, err := lb.Do(ctx, tc.path, nil)
				if !errors.Is(err, tc.want) || resp != nil {
					t.Fatalf("resp %q, err %v, want %v", resp, err, tc.want)
				}
				var e *Error
				if !errors.As(err, &e) || IsBackendFailure(err) {
					t.Fatalf("err %v: not a typed application error", err)
				}
			}
		})
	}
	for _, st := range lb.Stats() {
		if st.Health != lbclient.Healthy || st.Failures != 0 || st.Ejections != 0 || st.Successes == 0 {
			t.Fatalf("application errors counted against a backend: %+v", st)
		}
	}
	if resp, err := lb.Do(ctx, "/echo", []byte("still fine")); err != nil || string(resp) != "still fine" {
		t.Fatalf("resp %q, err %v", resp, err)
	}
}

func TestBalanceCloseWithCallsInFlight(t *testing.T) {
	const inFlight = 8
	servers := []*lbServer{startLBServer(t, "a"), startLBServer(t, "b")}
	lb, err := NewLoadBalanceClient(targetOf(servers, []int{1, 1}), WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	errc := make(chan error, inFlight)
	for range inFlight {
		go func() {
			_, err := lb.Do(ctx, "/slow", nil)
			errc <- err
		}()
	}
	for range inFlight {
		select {
		case <-servers[0].entered:
		case <-servers[1].entered:
		case err := <-errc:
			t.Fatalf("call ended before Close: %v", err)
		case <-ctx.Done():
			t.Fatalf("calls never reached the handlers: %+v", lb.Stats())
		}
	}
	if err := lb.Close(); err != nil {
		t.Fatal(err)
	}
	for range inFlight {
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Fatalf("in-flight call: %v, want ErrClosed", err)
		}
	}
	if _, err := lb.Do(ctx, "/who", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: %v, want ErrClosed", err)
	}
	if err := lb.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestNewLoadBalanceClientErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		target   string
		opts     []ClientOption
		want     error
		contains string
	}{
		{name: "entry without port", target: "127.0.0.1:9090#2,127.0.0.1", want: lbclient.ErrBadTarget, contains: `"127.0.0.1"`},
		{name: "weight out of range", target: "127.0.0.1:9090#101", want: lbclient.ErrBadTarget, contains: "127.0.0.1:9090#101"},
		{name: "empty entry", target: "127.0.0.1:9090,,127.0.0.1:9091", want: lbclient.ErrBadTarget, contains: "entry 2"},
		{name: "hash param without hash picker", target: "127.0.0.1:9090", opts: []ClientOption{WithHashQueryParam("uid")}, want: lbclient.ErrBadOption, contains: "PickHash"},
		{name: "bad lbclient option", target: "127.0.0.1:9090", opts: []ClientOption{WithBalancer(lbclient.WithFailureThreshold(0))}, want: lbclient.ErrBadOption, contains: "FailureThreshold"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lb, err := NewLoadBalanceClient(tc.target, tc.opts...)
			if err == nil {
				lb.Close()
				t.Fatal("no error")
			}
			if !errors.Is(err, tc.want) || !strings.HasPrefix(err.Error(), "iip: ") || !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("err %q, want %v naming %s", err, tc.want, tc.contains)
			}
		})
	}
}

func TestIsBackendFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{name: "nil", err: nil, want: false},
		{name: "connection lost", err: fmt.Errorf("%w: EOF", ErrConnLost), want: true},
		{name: "protocol", err: fmt.Errorf("%w: %w: bad frame", ErrConnLost, ErrProtocol), want: true},
		{name: "dial refused", err: fmt.Errorf("iip: dial x: %w", syscall.ECONNREFUSED), want: true},
		{name: "deadline", err: fmt.Errorf("iip: /x: %w", context.DeadlineExceeded), want: true},
		{name: "canceled", err: fmt.Errorf("iip: /x: %w", context.Canceled), want: false},
		{name: "closed", err: ErrClosed, want: false},
		{name: "bad path", err: fmt.Errorf("%w: too long", ErrBadPath), want: false},
		{name: "too large", err: fmt.Errorf("%w: 9 bytes", ErrMessageTooLarge), want: false},
		{name: "100 packet continue", err: &Error{Code: CodePacketContinue}, want: false},
		{name: "101 no response", err: &Error{Code: CodeNoResponse}, want: false},
		{name: "102 handler", err: &Error{Code: CodeHandler}, want: false},
		{name: "103 server timeout", err: &Error{Code: CodeTimeout}, want: false},
		{name: "104 unknown", err: &Error{Code: CodeUnknown}, want: false},
		{name: "105 no handler", err: &Error{Code: CodeNoHandler}, want: false},
		{name: "106 channel limit", err: &Error{Code: CodeChannelLimit}, want: true},
		{name: "107 server conn limit in handshake", err: fmt.Errorf("iip: handshake with x: %w", &Error{Code: CodeServerConnLimit}), want: true},
		{name: "108 client conn limit", err: &Error{Code: CodeClientConnLimit}, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsBackendFailure(tc.err); got != tc.want {
				t.Fatalf("IsBackendFailure(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestQueryParam(t *testing.T) {
	for _, tc := range []struct {
		name, path, param, want string
	}{
		{name: "no query", path: "/q", param: "uid", want: ""},
		{name: "only", path: "/q?uid=42", param: "uid", want: "42"},
		{name: "middle", path: "/q?a=1&uid=42&b=2", param: "uid", want: "42"},
		{name: "first wins", path: "/q?uid=1&uid=2", param: "uid", want: "1"},
		{name: "prefix is not the name", path: "/q?uidx=1&xuid=2", param: "uid", want: ""},
		{name: "no value", path: "/q?uid", param: "uid", want: ""},
		{name: "escaped value", path: "/q?uid=a%20b+c", param: "uid", want: "a b c"},
		{name: "escaped name", path: "/q?u%69d=7", param: "uid", want: "7"},
		{name: "bad escape kept raw", path: "/q?uid=%zz", param: "uid", want: "%zz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := queryParam(tc.path, tc.param); got != tc.want {
				t.Fatalf("queryParam(%q, %q) = %q, want %q", tc.path, tc.param, got, tc.want)
			}
		})
	}
}

func TestBalanceFileTargetUpdated(t *testing.T) {
	a, b := startLBServer(t, "a"), startLBServer(t, "b")
	path := t.TempDir() + "/backends"
	if err := os.WriteFile(path, []byte("// IIP servers\n"+a.addr+"#1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	updated := make(chan []lbclient.Endpoint, 4)
	lb := newLBT(t, "file://"+path, WithBalancer(lbclient.WithRefresh(10*time.Millisecond), lbclient.WithOnUpdate(func(eps []lbclient.Endpoint) { updated <- eps })))
	ctx := testCtx(t)
	select {
	case <-updated: // the initial set
	case <-ctx.Done():
		t.Fatal("initial set never reported")
	}
	if resp, err := lb.Do(ctx, "/who", nil); err != nil || string(resp) != "a" {
		t.Fatalf("resp %q, err %v", resp, err)
	}
	if err := os.WriteFile(path, []byte(b.addr+"#1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case eps := <-updated:
		if len(eps) != 1 || eps[0].Addr != b.addr {
			t.Fatalf("update %v, want only %s", eps, b.addr)
		}
	case <-ctx.Done():
		t.Fatal("file change never applied")
	}
	for range 10 {
		if resp, err := lb.Do(ctx, "/who", nil); err != nil || string(resp) != "b" {
			t.Fatalf("after the update: resp %q, err %v", resp, err)
		}
	}
	if eps := lb.b.Endpoints(); len(eps) != 1 || eps[0].Addr != b.addr {
		t.Fatalf("endpoints %v", eps)
	}
}

// TestBalancedBackendsLeaveRetriesToBalancer: a LoadBalanceClient's per-server
// pools do not resend a call that never left; lbclient alone does (on another
// server, or on the same pool for a set of one), so that the rule lives in one
// place. A plain Client keeps its own resend of such calls.
func TestBalancedBackendsLeaveRetriesToBalancer(t *testing.T) {
	a := startLBServer(t, "a")
	lb := newLBT(t, a.addr)
	if _, err := lb.Do(testCtx(t), "/who", nil); err != nil {
		t.Fatal(err)
	}
	if n := clientOf(t, lb, a.addr).notSentRetries; n != 0 {
		t.Fatalf("a balanced backend's pool resends a never-sent call %d times itself, want 0", n)
	}
	c, err := NewClient(testCtx(t), a.addr, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.notSentRetries != maxNotSentRetries {
		t.Fatalf("a plain Client resends a never-sent call %d times, want %d", c.notSentRetries, maxNotSentRetries)
	}
}
