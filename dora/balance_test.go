package dora_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/internal/testkit"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/lbclient"
)

// namedEcho answers Say with its name (or onSay's answer) and counts calls; Chat prefixes
// every answer with its name, so a test sees which server carried a stream.
type namedEcho struct {
	echoImpl
	name  string
	calls testkit.Counter
}

func (n *namedEcho) Say(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
	n.calls.Add(1)
	if n.onSay != nil {
		return n.onSay(ctx, in)
	}
	return &echo.SayResponse{Text: n.name, Blob: in.Blob}, nil
}

func (n *namedEcho) Chat(stream dora.BidiStreamingServer[echo.SayRequest, echo.SayResponse]) error {
	for {
		in, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&echo.SayResponse{Text: n.name + ":" + in.Text}); err != nil {
			return err
		}
	}
}

// startNamed starts a server on addr ("127.0.0.1:0" for a new port) serving impl.
func startNamed(t testing.TB, addr string, impl *namedEcho) *testServer {
	t.Helper()
	return startServerOn(t, addr, func(s *dora.Server) { echo.RegisterEchoServer(s, impl) })
}

// startFleet starts n named servers ("s0", "s1"...) whose Say runs onSay when not nil.
func startFleet(t testing.TB, n int, onSay func(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error)) ([]*testServer, []*namedEcho) {
	t.Helper()
	servers := make([]*testServer, n)
	impls := make([]*namedEcho, n)
	for i := range servers {
		impls[i] = &namedEcho{name: fmt.Sprintf("s%d", i)}
		impls[i].onSay = onSay
		servers[i] = startNamed(t, "127.0.0.1:0", impls[i])
	}
	return servers, impls
}

// lbTarget builds "lb:///addr#w,...".
func lbTarget(servers []*testServer, weights ...int) string {
	parts := make([]string, len(servers))
	for i, s := range servers {
		w := 1
		if i < len(weights) {
			w = weights[i]
		}
		parts[i] = fmt.Sprintf("%s#%d", s.addr, w)
	}
	return "lb:///" + strings.Join(parts, ",")
}

// callMany makes total Say calls from workers goroutines and returns the answers' counts
// per server name; any error fails the test.
func callMany(t *testing.T, ec echo.EchoClient, workers, total int, opts func(i int) []dora.CallOption) map[string]int {
	t.Helper()
	ctx := testCtx(t)
	var mu sync.Mutex
	got := map[string]int{}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := map[string]int{}
			defer func() {
				mu.Lock()
				for k, v := range local {
					got[k] += v
				}
				mu.Unlock()
			}()
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				var o []dora.CallOption
				if opts != nil {
					o = opts(i)
				}
				resp, err := ec.Say(ctx, &echo.SayRequest{Text: "x"}, o...)
				if err != nil {
					errs <- err
					return
				}
				local[resp.Text]++
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	return got
}

func statsOf(c *dora.Client, addr string) lbclient.BackendStats {
	for _, s := range c.BackendStats() {
		if s.Addr == addr {
			return s
		}
	}
	return lbclient.BackendStats{}
}

func TestBalancedTargets(t *testing.T) {
	servers, _ := startFleet(t, 2, nil)
	list := servers[0].addr + "#2," + servers[1].addr
	tests := []struct {
		name    string
		target  string
		opts    []dora.ClientOption
		wantErr string // substring; "" for success
		isBad   bool   // errors.Is lbclient.ErrBadTarget
	}{
		{name: "lb scheme", target: "lb:///" + list},
		{name: "plain list with WithBalancer", target: list, opts: []dora.ClientOption{dora.WithBalancer()}},
		{name: "one server with WithPicker", target: servers[0].addr, opts: []dora.ClientOption{dora.WithPicker(lbclient.PickRoundRobin)}},
		{name: "malformed entry named", target: "lb:///" + servers[0].addr + ",127.0.0.1", wantErr: `entry 2 "127.0.0.1"`, isBad: true},
		{name: "bad weight named", target: "lb:///" + servers[0].addr + "#0", wantErr: "entry 1", isBad: true},
		{name: "list without scheme or option", target: list, wantErr: "is not host:port"},
		{name: "empty", target: "", wantErr: "empty target"},
		{name: "bad balancer option", target: "lb:///" + list, opts: []dora.ClientOption{dora.WithBalancer(lbclient.WithFailureThreshold(0))}, wantErr: "FailureThreshold"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := dora.NewClient(tc.target, append([]dora.ClientOption{dora.WithLogger(quietLogger)}, tc.opts...)...)
			if tc.wantErr != "" {
				if err == nil {
					c.Close()
					t.Fatalf("NewClient(%q) succeeded, want error containing %q", tc.target, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "dora: ") {
					t.Fatalf("error %q: want prefix dora: and %q", err, tc.wantErr)
				}
				if tc.isBad != errors.Is(err, lbclient.ErrBadTarget) {
					t.Fatalf("errors.Is(%v, ErrBadTarget) = %v", err, !tc.isBad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.BackendStats() == nil {
				t.Fatal("not balanced")
			}
			if _, err := echo.NewEchoClient(c).Say(testCtx(t), &echo.SayRequest{Text: "hi"}); err != nil {
				t.Fatal(err)
			}
		})
	}
	// A plain target is a set of one server.
	plain := newTestClient(t, servers[0].addr)
	if st, eps := plain.BackendStats(), plain.Endpoints(); len(st) != 1 || len(eps) != 1 || eps[0].Addr != servers[0].addr {
		t.Fatalf("plain target: stats %+v, endpoints %v; want one server, %s", st, eps, servers[0].addr)
	}
}

func TestBalancedWeights(t *testing.T) {
	servers, _ := startFleet(t, 3, nil)
	c := newTestClient(t, lbTarget(servers, 5, 3, 2), dora.WithPicker(lbclient.PickRoundRobin))
	const total = 2000
	got := callMany(t, echo.NewEchoClient(c), 16, total, nil)
	for i, w := range []int{5, 3, 2} {
		want := total * w / 10
		name := fmt.Sprintf("s%d", i)
		if d := got[name] - want; d > want/20 || -d > want/20 {
			t.Errorf("%s got %d calls, want %d ±5%%", name, got[name], want)
		}
	}
}

func TestBalancedEjectAndRestore(t *testing.T) {
	servers, impls := startFleet(t, 3, nil)
	c := newTestClient(t, lbTarget(servers),
		dora.WithBalancer(lbclient.WithFailureThreshold(3), lbclient.WithEjection(50*time.Millisecond, 200*time.Millisecond)))
	ec := echo.NewEchoClient(c)
	callMany(t, ec, 4, 300, nil) // every server used

	// Load from 8 callers, counting failures.
	ctx, cancel := contextWithCancel(t)
	var ok testkit.Counter
	var failed atomic.Int64
	var firstErr, lastErr atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				_, err := ec.Say(ctx, &echo.SayRequest{Text: "x"})
				switch {
				case err == nil:
					ok.Add(1)
				case ctx.Err() != nil:
				default:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					lastErr.Store(err)
				}
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()

	victim := servers[1]
	victim.stop()
	testkit.WaitFor(t, testkit.Context(t, testkit.DefaultTimeout), "victim ejected", func() bool { return statsOf(c, victim.addr).Ejections > 0 })
	ok.WaitAtLeast(t, testkit.Context(t, testkit.DefaultTimeout), ok.Load()+500, "calls succeeding on the others")
	// Only calls in flight on the victim's connections when it stopped may fail (they may
	// have reached it, so they are not resent); the others moved on.
	failedAtEjection := failed.Load()
	if failedAtEjection > 16 {
		t.Errorf("%d calls failed while the victim went down (first: %v), want at most 16", failedAtEjection, firstErr.Load())
	}
	if err, _ := firstErr.Load().(error); err != nil && status.Code(err) != codes.Unavailable {
		t.Errorf("a call failed with %v, want Unavailable", err)
	}
	ok.WaitAtLeast(t, testkit.Context(t, testkit.DefaultTimeout), ok.Load()+500, "more calls succeeding on the others")
	if n := failed.Load(); n != failedAtEjection {
		t.Errorf("%d more calls failed with the victim ejected, last: %v", n-failedAtEjection, lastErr.Load())
	}

	// Restart on the same port: calls reach it again within 1 s.
	calledBefore := impls[1].calls.Load()
	restarted := time.Now()
	startNamed(t, victim.addr, impls[1])
	impls[1].calls.WaitAtLeast(t, testkit.Context(t, time.Second), calledBefore+1, "a call on the restarted server")
	t.Logf("restarted server called again after %v", time.Since(restarted))
	if n := failed.Load(); n != failedAtEjection {
		t.Errorf("%d calls failed during the restart, last: %v", n-failedAtEjection, lastErr.Load())
	}
}

func TestBalancedErrorsClassified(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	tests := []struct {
		name  string
		onSay func(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error)
		opts  []dora.CallOption
		code  codes.Code
	}{
		{"not found", func(context.Context, *echo.SayRequest) (*echo.SayResponse, error) {
			return nil, status.Error(codes.NotFound, "no such thing")
		}, nil, codes.NotFound},
		{"invalid argument", func(context.Context, *echo.SayRequest) (*echo.SayResponse, error) {
			return nil, status.Error(codes.InvalidArgument, "bad")
		}, nil, codes.InvalidArgument},
		{"permission denied", func(context.Context, *echo.SayRequest) (*echo.SayResponse, error) {
			return nil, status.Error(codes.PermissionDenied, "no")
		}, nil, codes.PermissionDenied},
		{"caller's deadline", func(ctx context.Context, _ *echo.SayRequest) (*echo.SayResponse, error) {
			select {
			case <-ctx.Done():
			case <-block:
			}
			return nil, ctx.Err()
		}, []dora.CallOption{dora.Timeout(10 * time.Millisecond)}, codes.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			servers, _ := startFleet(t, 2, tc.onSay)
			c := newTestClient(t, lbTarget(servers), dora.WithBalancer(lbclient.WithFailureThreshold(2)))
			ec := echo.NewEchoClient(c)
			for i := 0; i < 20; i++ {
				_, err := ec.Say(testCtx(t), &echo.SayRequest{Text: "x"}, tc.opts...)
				if status.Code(err) != tc.code {
					t.Fatalf("call %d: %v, want %v", i, err, tc.code)
				}
				if dora.IsBackendFailure(err) {
					t.Fatalf("IsBackendFailure(%v) = true", err)
				}
			}
			for _, s := range c.BackendStats() {
				if s.Ejections != 0 || s.Failures != 0 || s.Health != lbclient.Healthy {
					t.Fatalf("%s: %+v, want healthy with no failures", s.Addr, s)
				}
			}
		})
	}
}

func TestIsBackendFailure(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"unavailable", status.Error(codes.Unavailable, "gone"), true},
		{"not found", status.Error(codes.NotFound, "x"), false},
		{"internal from handler", status.Error(codes.Internal, "panic"), false},
		{"deadline", status.Error(codes.DeadlineExceeded, "late"), false},
		{"context deadline", context.DeadlineExceeded, false},
		{"canceled", status.Error(codes.Canceled, "bye"), false},
		{"resource exhausted", status.Error(codes.ResourceExhausted, "big"), false},
		{"plain error", errors.New("boom"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := dora.IsBackendFailure(tc.err); got != tc.want {
				t.Fatalf("IsBackendFailure(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestBalancedHashKey(t *testing.T) {
	servers, _ := startFleet(t, 3, nil)
	c := newTestClient(t, lbTarget(servers), dora.WithPicker(lbclient.PickHash))
	ec := echo.NewEchoClient(c)
	ctx := testCtx(t)
	first := map[string]string{}
	used := map[string]bool{}
	for round := 0; round < 3; round++ {
		for k := 0; k < 200; k++ {
			key := fmt.Sprintf("user-%d", k)
			resp, err := ec.Say(ctx, &echo.SayRequest{}, dora.HashKey(key))
			if err != nil {
				t.Fatal(err)
			}
			if round == 0 {
				first[key] = resp.Text
				used[resp.Text] = true
			} else if first[key] != resp.Text {
				t.Fatalf("key %s went to %s, then %s", key, first[key], resp.Text)
			}
		}
	}
	if len(used) != 3 {
		t.Fatalf("200 keys used %d of 3 servers", len(used))
	}
}

func TestBalancedStreaming(t *testing.T) {
	servers, _ := startFleet(t, 2, nil)
	c := newTestClient(t, lbTarget(servers), dora.WithPicker(lbclient.PickRoundRobin))
	ec := echo.NewEchoClient(c)
	ctx := testCtx(t)
	seen := map[string]int{}
	for i := 0; i < 6; i++ {
		stream, err := ec.Chat(ctx)
		if err != nil {
			t.Fatal(err)
		}
		server := ""
		for j := 0; j < 5; j++ {
			if err := stream.Send(&echo.SayRequest{Text: fmt.Sprint(j)}); err != nil {
				t.Fatal(err)
			}
			resp, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			name, text, _ := strings.Cut(resp.Text, ":")
			if text != fmt.Sprint(j) {
				t.Fatalf("got %q for %d", resp.Text, j)
			}
			if server == "" {
				server = name
			} else if name != server {
				t.Fatalf("stream %d moved from %s to %s", i, server, name)
			}
		}
		if err := stream.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != io.EOF {
			t.Fatalf("end of stream: %v", err)
		}
		seen[server]++
	}
	if seen["s0"] != 3 || seen["s1"] != 3 {
		t.Fatalf("streams per server %v, want 3 each", seen)
	}
	// Server streaming, and a stream abandoned by cancelling its context: both give their
	// server back (no pending call left).
	count, err := ec.Count(ctx, &echo.CountRequest{From: 1, To: 50})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, err := count.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 50 {
		t.Fatalf("got %d numbers, want 50", n)
	}
	sctx, cancel := context.WithCancel(ctx)
	if _, err := ec.Chat(sctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	testkit.WaitFor(t, testkit.Context(t, testkit.DefaultTimeout), "no pending calls", func() bool {
		for _, s := range c.BackendStats() {
			if s.Pending != 0 {
				return false
			}
		}
		return true
	})
}

func TestBalancedCloseInFlight(t *testing.T) {
	entered := make(chan struct{}, 64)
	release := make(chan struct{})
	defer close(release)
	servers, _ := startFleet(t, 2, func(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return &echo.SayResponse{}, nil
	})
	c, err := dora.NewClient(lbTarget(servers), dora.WithLogger(quietLogger))
	if err != nil {
		t.Fatal(err)
	}
	ec := echo.NewEchoClient(c)
	const calls = 10
	errs := make(chan error, calls)
	for i := 0; i < calls; i++ {
		go func() {
			_, err := ec.Say(testCtx(t), &echo.SayRequest{})
			errs <- err
		}()
	}
	for i := 0; i < calls; i++ {
		select {
		case <-entered:
		case <-time.After(testTimeout):
			t.Fatal("calls did not reach the servers")
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < calls; i++ {
		select {
		case err := <-errs:
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("in-flight call ended with %v, want Unavailable", err)
			}
		case <-time.After(testTimeout):
			t.Fatal("in-flight call did not end after Close")
		}
	}
	_, err = ec.Say(testCtx(t), &echo.SayRequest{})
	if status.Code(err) != codes.Canceled || !errors.Is(err, dora.ErrClientClosed) {
		t.Fatalf("call after Close: %v, want Canceled wrapping ErrClientClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBalancedUnreachableServerFailsNoCall(t *testing.T) {
	servers, _ := startFleet(t, 2, nil)
	target := "lb:///" + servers[0].addr + "," + testkit.ClosedAddr(t) + "," + servers[1].addr
	var calls atomic.Int64
	counter := statsFunc(func(s *dora.CallStats) {
		calls.Add(1)
		if typ := fmt.Sprintf("%T", s.Err); strings.Contains(typ, "unsent") {
			t.Errorf("stats handler saw the internal error type %s: %v", typ, s.Err)
		}
	})
	c := newTestClient(t, target, dora.WithPicker(lbclient.PickRoundRobin), dora.WithStats(counter))
	got := callMany(t, echo.NewEchoClient(c), 4, 300, nil)
	if got["s0"]+got["s1"] != 300 {
		t.Fatalf("answers %v", got)
	}
	if calls.Load() < 300 {
		t.Fatalf("stats handler saw %d calls, want at least 300", calls.Load())
	}
}

// statsFunc is a StatsHandler calling f at each call's end.
type statsFunc func(*dora.CallStats)

func (f statsFunc) CallBegin(ctx context.Context, _ *dora.CallInfo) context.Context { return ctx }
func (f statsFunc) CallEnd(_ context.Context, s *dora.CallStats)                    { f(s) }

func TestBalancedFileTarget(t *testing.T) {
	servers, _ := startFleet(t, 2, nil)
	path := filepath.Join(t.TempDir(), "backends")
	write := func(content string) {
		t.Helper()
		// Write and rename, so the watcher never reads a half-written file.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("// fleet\n" + servers[0].addr + "\n" + servers[1].addr + "\n")
	applied := make(chan struct{}) // closed by the balancer's update hook once the new set is in
	var appliedOnce sync.Once
	c := newTestClient(t, "file://"+path, dora.WithPicker(lbclient.PickRoundRobin),
		dora.WithBalancer(lbclient.WithRefresh(10*time.Millisecond), lbclient.WithOnUpdate(func(eps []lbclient.Endpoint) {
			if len(eps) == 1 {
				appliedOnce.Do(func() { close(applied) })
			}
		})))
	ec := echo.NewEchoClient(c)
	if got := callMany(t, ec, 2, 20, nil); got["s0"] != 10 || got["s1"] != 10 {
		t.Fatalf("answers %v, want 10 each", got)
	}
	write(servers[1].addr + "#3\n")
	testkit.Recv(t, applied, testkit.DefaultTimeout, "the file's change applied")
	if got := callMany(t, ec, 2, 20, nil); got["s1"] != 20 {
		t.Fatalf("answers %v, want all from s1", got)
	}
}

// TestBalancedRestartRecovers kills one of three servers under load (4 callers), waits for
// its ejection and restarts it on the same address: with lbclient's default health options
// (5 failures eject for 1 s, doubling) a call must succeed on it within 1 s of it listening,
// which the recovery check (the per-server client asked to connect every 250 ms) ensures.
func TestBalancedRestartRecovers(t *testing.T) {
	servers, impls := startFleet(t, 3, nil)
	c := newTestClient(t, lbTarget(servers))
	ec := echo.NewEchoClient(c)
	callMany(t, ec, 4, 300, nil) // every server used

	ctx, cancel := contextWithCancel(t)
	var restarted atomic.Bool
	back := make(chan struct{})
	var backOnce sync.Once
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				resp, err := ec.Say(ctx, &echo.SayRequest{Text: "x"})
				if err == nil && resp.Text == impls[1].name && restarted.Load() {
					backOnce.Do(func() { close(back) })
				}
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()

	victim := servers[1]
	victim.stop()
	testkit.WaitFor(t, testkit.Context(t, testkit.DefaultTimeout), "victim ejected", func() bool { return statsOf(c, victim.addr).Ejections > 0 })
	restarted.Store(true)
	startNamed(t, victim.addr, impls[1])
	listening := time.Now()
	select {
	case <-back:
		t.Logf("restarted server answered after %v", time.Since(listening))
	case <-time.After(time.Second):
		t.Fatalf("no call succeeded on the restarted server within 1 s: %+v", statsOf(c, victim.addr))
	}
}
