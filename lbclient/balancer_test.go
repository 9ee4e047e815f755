package lbclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/lbclient/internal/testkit"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// targetOf builds a static target over servers with the given weights.
func targetOf(servers []*echoServer, weights []int) string {
	parts := make([]string, len(servers))
	for i, s := range servers {
		parts[i] = fmt.Sprintf("%s#%d", s.addr, weights[i])
	}
	return strings.Join(parts, ",")
}

func newTestBalancer(t *testing.T, target string, opts ...Option) *Balancer[*echoConn] {
	t.Helper()
	b, err := New(target, dialEcho, append([]Option{WithLogger(quiet)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// run makes total calls from workers goroutines and fails the test on any error.
func run(t *testing.T, b *Balancer[*echoConn], workers, total int, key func(i int) string) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				k := ""
				if key != nil {
					k = key(i)
				}
				if err := b.Do(context.Background(), k, echoCall); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("call failed: %v", err)
	}
}

func TestWeightsHonoured(t *testing.T) {
	const calls = 100_000
	weights := []int{1, 3, 6}
	for _, p := range []Picker{PickRoundRobin, PickRandom} {
		t.Run(p.String(), func(t *testing.T) {
			servers := []*echoServer{startEcho(t), startEcho(t), startEcho(t)}
			b := newTestBalancer(t, targetOf(servers, weights), WithPicker(p))
			run(t, b, 4, calls, nil)
			for i, s := range servers {
				want := float64(calls) * float64(weights[i]) / 10
				got := float64(s.served.Load())
				if got < want*0.95 || got > want*1.05 {
					t.Errorf("server %d (weight %d) served %.0f calls, want %.0f ±5%%", i, weights[i], got, want)
				}
			}
			var ok uint64
			for _, st := range b.Stats() {
				ok += st.Successes
				if st.Failures != 0 || st.Pending != 0 || st.Health != Healthy {
					t.Errorf("stats %+v: want no failures, nothing pending, healthy", st)
				}
			}
			if ok != calls {
				t.Errorf("stats count %d successes, want %d", ok, calls)
			}
		})
	}
}

func TestLeastPendingAvoidsLoadedServer(t *testing.T) {
	slow, fast := startEcho(t), startEcho(t)
	b := newTestBalancer(t, targetOf([]*echoServer{slow, fast}, []int{1, 1}))
	slow.hold()
	const steps = 400
	var wg sync.WaitGroup
	errs := make(chan error, steps)
	heldAtSlow := 0
	for i := 0; i < steps; i++ {
		done := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done)
			if err := b.Do(context.Background(), "", echoCall); err != nil {
				errs <- err
			}
		}()
		// Each call either completes at the fast server or is held at the slow one.
		select {
		case <-done:
		case <-slow.held:
			heldAtSlow++
		case <-time.After(10 * time.Second):
			t.Fatalf("call %d neither completed nor reached the slow server", i)
		}
	}
	slow.release()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// With p2c the slow server (many pending) wins only when both draws pick
	// it: about 1/4 of the calls; a load-blind picker would send it 1/2.
	if heldAtSlow > steps*35/100 {
		t.Fatalf("slow server got %d of %d calls, want about %d", heldAtSlow, steps, steps/4)
	}
	t.Logf("slow server got %d of %d calls", heldAtSlow, steps)
}

// TestKilledBackendEjectedAndRestored kills one of three backends under load
// (four callers), waits until it is ejected and its recovery check has seen it
// down, restarts it on the same address and requires a successful call on it
// within 1 s of it listening: with the default options, and with an hour-long
// ejection, which only the recovery check can cut short.
func TestKilledBackendEjectedAndRestored(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
	}{
		{"defaults", nil},
		{"hour-long ejection", []Option{WithEjection(time.Hour, time.Hour)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { testKillRestart(t, tc.opts...) })
	}
}

func testKillRestart(t *testing.T, opts ...Option) {
	const workers = 4
	servers := []*echoServer{startEcho(t), startEcho(t), startEcho(t)}
	victim := servers[0]
	dialGen.Store(0)
	b := newTestBalancer(t, targetOf(servers, []int{1, 1, 1}), opts...)

	var (
		killed                  atomic.Bool
		victimFailures, calls   atomic.Int64
		warm, ejected, restored = make(chan struct{}), make(chan struct{}), make(chan struct{})
		warmOnce, ejectOnce     sync.Once
		restoreOnce             sync.Once
		stop                    = make(chan struct{})
		wg                      sync.WaitGroup
		unexpected              = make(chan error, workers)
	)
	fn := func(ctx context.Context, c *echoConn) error {
		gen, err := c.roundTrip(ctx)
		switch {
		case c.addr == victim.addr && err != nil && killed.Load() && gen <= 0:
			// The killed incarnation: a call on one of its connections fails
			// (it may surface late, from a call in flight at the kill); a
			// refused dial (gen -1, marked NotSent) moves to another backend.
			if gen == 0 {
				victimFailures.Add(1)
			}
			return err
		case err != nil:
			return fmt.Errorf("unexpected failure on %s (victim %s): %w", c.addr, victim.addr, err)
		case c.addr == victim.addr && gen == 1:
			restoreOnce.Do(func() { close(restored) })
		}
		if calls.Add(1) == 2000 {
			warmOnce.Do(func() { close(warm) })
		}
		return nil
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := b.Do(context.Background(), "", fn)
				if err != nil && strings.HasPrefix(err.Error(), "unexpected") {
					unexpected <- err
					return
				}
				if killed.Load() {
					if be := b.set.Load().backends[0]; be.ejectedUntil.Load() != 0 && be.sawDown.Load() {
						ejectOnce.Do(func() { close(ejected) })
					}
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	testkit.Recv(t, warm, 10*time.Second, "2000 calls before the kill")
	killed.Store(true)
	victim.stop()
	testkit.Recv(t, ejected, 5*time.Second, "the killed backend to be ejected and seen down")
	if n := victimFailures.Load(); n > 2*workers {
		t.Fatalf("%d calls failed on the killed backend, want at most %d (its idle connections plus in-flight calls)", n, 2*workers)
	} else {
		t.Logf("%d calls failed before ejection", n)
	}
	if h := b.Stats()[0].Health; h == Healthy {
		t.Fatalf("killed backend is %v", h)
	}

	dialGen.Store(1)
	victim.restart()
	select {
	case <-restored:
	case <-time.After(time.Second):
		be := b.set.Load().backends[0]
		var unexp error
		select {
		case unexp = <-unexpected:
		default:
		}
		t.Fatalf("no successful call on the restarted backend within 1 s: %+v, sawDown %v, ejected until %v from now (%v)",
			b.Stats()[0], be.sawDown.Load(), time.Duration(be.ejectedUntil.Load()-nanotime()), unexp)
	}
	select {
	case err := <-unexpected:
		t.Fatal(err)
	default:
	}
}

func TestStaticUpdateDrainsInFlight(t *testing.T) {
	a, bsrv, c := startEcho(t), startEcho(t), startEcho(t)
	st, err := NewStatic([]Endpoint{{a.addr, 1}, {bsrv.addr, 1}})
	if err != nil {
		t.Fatal(err)
	}
	updated := make(chan struct{}, 16)
	b, err := NewWithResolver(st, dialEcho, WithPicker(PickRoundRobin), WithLogger(quiet),
		WithOnUpdate(func([]Endpoint) { updated <- struct{}{} }))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	<-updated // the initial set

	a.hold()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- b.Do(context.Background(), "", echoCall)
		}()
	}
	testkit.Recv(t, a.held, 5*time.Second, "first call held at the removed backend")
	testkit.Recv(t, a.held, 5*time.Second, "second call held at the removed backend")

	if err := st.Set([]Endpoint{{bsrv.addr, 1}, {c.addr, 1}}); err != nil {
		t.Fatal(err)
	}
	testkit.Recv(t, updated, 5*time.Second, "the balancer to apply the new set")
	if got := FormatTarget(b.Endpoints()); got != bsrv.addr+"#1,"+c.addr+"#1" {
		t.Fatalf("endpoints %s after Set", got)
	}
	before := c.served.Load()
	run(t, b, 2, 100, nil)
	if c.served.Load()-before != 50 {
		t.Fatalf("new backend served %d of 100 calls, want 50", c.served.Load()-before)
	}

	a.release() // the in-flight calls on the removed backend finish...
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("in-flight call lost: %v", err)
		}
	}
	// ...and then its connections close.
	testkit.Recv(t, a.hangup, 5*time.Second, "the removed backend's first connection to close")
	testkit.Recv(t, a.hangup, 5*time.Second, "the removed backend's second connection to close")
	if a.served.Load() != 2 {
		t.Fatalf("removed backend served %d calls, want the 2 in flight", a.served.Load())
	}
}

// signalHandler is a slog handler that reports each record on a channel.
type signalHandler struct{ ch chan string }

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool { msg += " " + a.String(); return true })
	select {
	case h.ch <- msg:
	default:
	}
	return nil
}
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h signalHandler) WithGroup(string) slog.Handler      { return h }

func TestOptionsValidated(t *testing.T) {
	tests := []struct {
		name string
		opt  Option
	}{
		{"threshold", WithFailureThreshold(0)},
		{"ejection order", WithEjection(time.Second, time.Millisecond)},
		{"ejection zero", WithEjection(0, time.Second)},
		{"panic", WithPanicThreshold(101)},
		{"vnodes", WithVirtualNodes(0)},
		{"probe interval", WithProbe(0, func(context.Context, string) error { return nil })},
		{"refresh", WithRefresh(-time.Second)},
		{"recovery", WithRecovery(-time.Second, nil)},
		{"attempts", WithPickAttempts(0)},
		{"classifier", WithBackendFailure(nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New("127.0.0.1:1", dialEcho, tc.opt)
			if !errors.Is(err, ErrBadOption) {
				t.Fatalf("New with bad %s: %v, want ErrBadOption", tc.name, err)
			}
		})
	}
	if _, err := New("127.0.0.1:1,nonsense", dialEcho); !errors.Is(err, ErrBadTarget) || !strings.Contains(err.Error(), `"nonsense"`) {
		t.Fatalf("New with a malformed entry: %v", err)
	}
	if _, err := New[*echoConn]("127.0.0.1:1", nil); !errors.Is(err, ErrBadOption) {
		t.Fatalf("New with nil NewClientFunc: %v", err)
	}
}

func TestActiveProbeAndPanicThreshold(t *testing.T) {
	servers := []*echoServer{startEcho(t), startEcho(t), startEcho(t), startEcho(t)}
	var down sync.Map // addr -> bool
	probed := make(chan string, 1024)
	probe := func(ctx context.Context, addr string) error {
		defer func() {
			select {
			case probed <- addr:
			default:
			}
		}()
		if v, _ := down.Load(addr); v == true {
			return errors.New("probe: down")
		}
		return nil
	}
	b := newTestBalancer(t, targetOf(servers, []int{1, 1, 1, 1}), WithPicker(PickRoundRobin), WithProbe(5*time.Millisecond, probe))
	// waitProbed waits until a probe of addr that began after the call has
	// returned and its verdict is stored: after draining old reports, the first
	// report may come from a probe already running, the second from one that
	// saw the change, and the third proves the second's verdict was stored
	// (probes run one after another).
	waitProbed := func(addr string) {
		t.Helper()
		for drained := false; !drained; {
			select {
			case <-probed:
			default:
				drained = true
			}
		}
		for n := 0; n < 3; {
			select {
			case a := <-probed:
				if a == addr {
					n++
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s not probed", addr)
			}
		}
	}
	served := func() []int64 {
		out := make([]int64, len(servers))
		for i, s := range servers {
			out[i] = s.served.Load()
		}
		return out
	}

	down.Store(servers[0].addr, true)
	waitProbed(servers[0].addr)
	if h := b.Stats()[0].Health; h != ProbeDown {
		t.Fatalf("probed-down backend is %v", h)
	}
	before := served()
	run(t, b, 1, 300, nil)
	after := served()
	if after[0] != before[0] {
		t.Fatalf("probe-down backend served %d calls", after[0]-before[0])
	}
	for i := 1; i < 4; i++ {
		if after[i]-before[i] != 100 {
			t.Fatalf("backend %d served %d of 300, want 100", i, after[i]-before[i])
		}
	}

	// Three of four down: 25% healthy is under the 50% panic threshold, so all four serve.
	down.Store(servers[1].addr, true)
	down.Store(servers[2].addr, true)
	waitProbed(servers[1].addr)
	waitProbed(servers[2].addr)
	before = served()
	run(t, b, 1, 400, nil)
	after = served()
	for i := range servers {
		if after[i]-before[i] != 100 {
			t.Fatalf("panic mode: backend %d served %d of 400, want 100", i, after[i]-before[i])
		}
	}

	down.Clear()
	for _, s := range servers[:3] {
		waitProbed(s.addr)
	}
	for _, st := range b.Stats() {
		if st.Health != Healthy {
			t.Fatalf("after probes pass: %s is %v", st.Addr, st.Health)
		}
	}
}

func TestHashKeyStickyOverServers(t *testing.T) {
	servers := []*echoServer{startEcho(t), startEcho(t), startEcho(t)}
	b := newTestBalancer(t, targetOf(servers, []int{1, 1, 1}), WithPicker(PickHash))
	home := map[string]string{}
	for i := 0; i < 300; i++ {
		key := fmt.Sprintf("client-%d", i%30)
		err := b.Do(context.Background(), key, func(ctx context.Context, c *echoConn) error {
			if h, ok := home[key]; ok && h != c.addr {
				return fmt.Errorf("key %s went to %s, earlier to %s", key, c.addr, h)
			}
			home[key] = c.addr
			return c.call(ctx)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, a := range home {
		seen[a] = true
	}
	if len(seen) != 3 {
		t.Fatalf("30 keys landed on %d backends, want 3", len(seen))
	}
}

func TestApplicationErrorsAreNotFailures(t *testing.T) {
	s := startEcho(t)
	appErr := errors.New("app: not found")
	b := newTestBalancer(t, s.addr, WithFailureThreshold(1),
		WithBackendFailure(func(err error) bool { return IsBackendFailure(err) && !errors.Is(err, appErr) }))
	for i := 0; i < 10; i++ {
		err := b.Do(context.Background(), "", func(ctx context.Context, c *echoConn) error {
			if err := c.call(ctx); err != nil {
				return err
			}
			return appErr
		})
		if !errors.Is(err, appErr) {
			t.Fatalf("Do returned %v, want the application error", err)
		}
	}
	// A cancelled caller is not the backend's fault either.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = b.Do(context.Background(), "", func(context.Context, *echoConn) error { return ctx.Err() })
	if st := b.Stats()[0]; st.Health != Healthy || st.Failures != 0 || st.Successes != 11 {
		t.Fatalf("stats %+v: want healthy, 0 failures, 11 successes", st)
	}
}

func TestHalfOpenLetsOneTrialThrough(t *testing.T) {
	cfg := defaultConfig()
	be := &backend[*echoConn]{}
	be.addr = "127.0.0.1:1"
	for i := 0; i < cfg.failureThreshold; i++ {
		be.record(&cfg, true, false, false, 0, 100)
	}
	if be.healthy() || be.health(100) != Ejected {
		t.Fatalf("after %d failures: %v", cfg.failureThreshold, be.health(100))
	}
	end := 100 + int64(cfg.baseEjection)
	if be.claimTrial(end - 1) {
		t.Fatal("trial granted before the backoff ended")
	}
	if !be.claimTrial(end) || be.claimTrial(end) {
		t.Fatal("want exactly one trial after the backoff")
	}
	if be.health(end) != HalfOpen {
		t.Fatalf("during trial: %v", be.health(end))
	}
	be.record(&cfg, true, false, true, 0, end) // the trial fails: backoff doubles
	if !be.claimTrial(end+2*int64(cfg.baseEjection)) || be.claimTrial(end+2*int64(cfg.baseEjection)) {
		t.Fatal("want one trial after the doubled backoff")
	}
	be.record(&cfg, false, false, true, 10, end) // the trial succeeds: healthy again
	if !be.healthy() || be.ejections.Load() != 2 || be.consecutive.Load() != 0 {
		t.Fatalf("after a good trial: healthy=%v ejections=%d", be.healthy(), be.ejections.Load())
	}
}

func TestCloseDuringCalls(t *testing.T) {
	s := startEcho(t)
	b, err := New(s.addr, dialEcho, WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	s.hold()
	done := make(chan error, 1)
	go func() { done <- b.Do(context.Background(), "", echoCall) }()
	testkit.Recv(t, s.held, 5*time.Second, "the call to reach the server")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Do(context.Background(), "", echoCall); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close: %v", err)
	}
	s.release()
	if err := <-done; err != nil {
		t.Fatalf("in-flight call during Close: %v", err)
	}
	testkit.Recv(t, s.hangup, 5*time.Second, "the in-flight call's connection to close")
}

func TestNoBackends(t *testing.T) {
	st, err := NewStatic(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewWithResolver(st, dialEcho, WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Do(context.Background(), "", echoCall); !errors.Is(err, ErrNoBackends) {
		t.Fatalf("Do with no backends: %v", err)
	}
}

func TestDialFailureTriesAnotherBackend(t *testing.T) {
	live := startEcho(t)
	dead := startEcho(t)
	dead.stop() // nothing listens on its port any more
	b := newTestBalancer(t, targetOf([]*echoServer{dead, live}, []int{1, 1}), WithFailureThreshold(2),
		WithEjection(time.Hour, time.Hour))
	run(t, b, 2, 200, nil) // every call succeeds: a refused dial moves the call to the live backend
	st := b.Stats()
	if st[0].Health != Ejected || st[0].Successes != 0 || st[0].Failures < 2 {
		t.Fatalf("dead backend: %+v, want ejected after its failed dials", st[0])
	}
	if st[1].Successes != 200 {
		t.Fatalf("live backend: %+v, want all 200 calls", st[1])
	}
}

func TestRefreshAppliesAtOnce(t *testing.T) {
	a, c := startEcho(t), startEcho(t)
	path := t.TempDir() + "/backends"
	if err := os.WriteFile(path, []byte(a.addr), 0o600); err != nil {
		t.Fatal(err)
	}
	b := newTestBalancer(t, "file://"+path, WithRefresh(time.Hour))
	if err := os.WriteFile(path, []byte(a.addr+"#2\n"+c.addr), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := FormatTarget(b.Endpoints()), a.addr+"#2,"+c.addr+"#1"; got != want {
		t.Fatalf("after Refresh: %s, want %s", got, want)
	}
	if err := os.WriteFile(path, []byte("broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(context.Background()); !errors.Is(err, ErrBadTarget) {
		t.Fatalf("Refresh of a malformed file: %v", err)
	}
	if len(b.Endpoints()) != 2 {
		t.Fatalf("a failed Refresh changed the set: %v", b.Endpoints())
	}
	b.Close()
	if err := b.Refresh(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Refresh after Close: %v", err)
	}
}

// sharedClient stands for a concurrency-safe pooled client (iip.Client, dora.Client).
type sharedClient struct {
	inFlight, maxInFlight atomic.Int64
	closed                atomic.Bool
	entered               chan struct{} // receives one value per call, once counted in flight
	gate                  chan struct{}
}

func (c *sharedClient) Close() error { c.closed.Store(true); return nil }

func (c *sharedClient) call(fail bool) error {
	n := c.inFlight.Add(1)
	defer c.inFlight.Add(-1)
	for {
		m := c.maxInFlight.Load()
		if n <= m || c.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	if c.entered != nil {
		c.entered <- struct{}{}
	}
	if c.gate != nil {
		<-c.gate
	}
	if fail {
		return errors.New("shared: backend failure")
	}
	return nil
}

func TestSharedClient(t *testing.T) {
	var mu sync.Mutex
	var dialed []*sharedClient
	gate := make(chan struct{})
	started := make(chan struct{}, 8)
	dial := func(addr string) (*sharedClient, error) {
		mu.Lock()
		defer mu.Unlock()
		c := &sharedClient{gate: gate, entered: started}
		dialed = append(dialed, c)
		return c, nil
	}
	b, err := New("127.0.0.1:7000", dial, WithFailureThreshold(3), WithEjection(time.Hour, time.Hour), WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	// Eight concurrent calls share the one client.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = b.Do(context.Background(), "", func(_ context.Context, c *sharedClient) error { return c.call(false) })
		}()
	}
	for i := 0; i < 8; i++ {
		testkit.Recv(t, started, 5*time.Second, "concurrent calls to start")
	}
	close(gate)
	wg.Wait()
	mu.Lock()
	if len(dialed) != 1 || dialed[0].maxInFlight.Load() != 8 {
		t.Fatalf("dialed %d clients (want 1), max in flight %d (want 8)", len(dialed), dialed[0].maxInFlight.Load())
	}
	first := dialed[0]
	first.entered = nil
	mu.Unlock()

	// Failures, the ejecting one included, keep the client: it reconnects by
	// itself. Close closes it.
	failing := func(_ context.Context, c *sharedClient) error { return c.call(true) }
	for i := 0; i < 3; i++ {
		_ = b.Do(context.Background(), "", failing)
	}
	if first.closed.Load() || b.Stats()[0].Health != Ejected {
		t.Fatalf("after the ejecting failure: closed=%v health=%v", first.closed.Load(), b.Stats()[0].Health)
	}
	b.Close()
	if !first.closed.Load() {
		t.Fatal("Close left the shared client open")
	}
}

func TestProbeEndsEjection(t *testing.T) {
	s := startEcho(t)
	errDown := errors.New("backend down")
	probed := make(chan struct{}, 1024)
	var serving atomic.Bool
	probe := func(context.Context, string) error {
		defer func() {
			select {
			case probed <- struct{}{}:
			default:
			}
		}()
		if !serving.Load() {
			return errors.New("probe: not serving")
		}
		return nil
	}
	b := newTestBalancer(t, s.addr, WithFailureThreshold(1), WithEjection(time.Hour, time.Hour),
		WithBackendFailure(func(err error) bool { return errors.Is(err, errDown) }),
		WithProbe(5*time.Millisecond, probe))
	// waitProbes waits until a probe that began after the call has returned and its
	// verdict is stored (see TestActiveProbeAndPanicThreshold: the third report proves it).
	waitProbes := func() {
		t.Helper()
		for drained := false; !drained; {
			select {
			case <-probed:
			default:
				drained = true
			}
		}
		for range 3 {
			select {
			case <-probed:
			case <-time.After(5 * time.Second):
				t.Fatal("no probe")
			}
		}
	}
	serving.Store(true)
	if err := b.Do(context.Background(), "", func(context.Context, *echoConn) error { return errDown }); !errors.Is(err, errDown) {
		t.Fatalf("Do = %v", err)
	}
	// The probe says serving: the hour-long ejection ends at the next probe.
	waitProbes()
	if st := b.Stats()[0]; st.Health != Healthy || st.Ejections != 1 {
		t.Fatalf("after a good probe: %+v, want healthy after 1 ejection", st)
	}
	// While the probe fails, an ejection stays (and the backend is probe-down).
	serving.Store(false)
	_ = b.Do(context.Background(), "", func(context.Context, *echoConn) error { return errDown })
	waitProbes()
	if st := b.Stats()[0]; st.Health != ProbeDown {
		t.Fatalf("with failing probes: %v, want probe-down", st.Health)
	}
	serving.Store(true)
	waitProbes()
	if st := b.Stats()[0]; st.Health != Healthy {
		t.Fatalf("probe good again: %v, want healthy", st.Health)
	}
}

// Begin keeps a call pending until its done function runs, and moves a call
// marked NotSent to another backend as Do does.
func TestBeginHoldsAndMoves(t *testing.T) {
	live := startEcho(t)
	dead := startEcho(t)
	dead.stop()
	b := newTestBalancer(t, targetOf([]*echoServer{dead, live}, []int{1, 1}), WithPicker(PickRoundRobin))
	var done func(error)
	var picked []string
	for i := 0; i < 2; i++ {
		err := b.Begin(context.Background(), "", func(ctx context.Context, c *echoConn, d func(error)) error {
			picked = append(picked, c.addr)
			if err := c.call(ctx); err != nil {
				return err
			}
			done = d
			return nil
		})
		if err != nil {
			t.Fatalf("Begin %d: %v (picked %v)", i, err, picked)
		}
		if st := b.Stats()[1]; st.Pending != 1 {
			t.Fatalf("Begin %d: live backend has %d pending, want 1 until done", i, st.Pending)
		}
		done(nil)
		done(errors.New("ignored: done runs once"))
		if st := b.Stats()[1]; st.Pending != 0 || st.Failures != 0 {
			t.Fatalf("after done: %+v", st)
		}
	}
	if st := b.Stats()[0]; st.Failures == 0 || st.Successes != 0 {
		t.Fatalf("dead backend %+v: want its refused dials counted", st)
	}
	if picked[len(picked)-1] != live.addr {
		t.Fatalf("picked %v, want the last pick on the live backend", picked)
	}
}

// countingPicker is a Picker of the caller's own: it always picks backend 0 and counts its
// picks and done callbacks.
type countingPicker struct{ picks, dones *atomic.Int64 }

func (p countingPicker) String() string       { return "counting" }
func (p countingPicker) Build(*Set) SetPicker { return p }
func (p countingPicker) Pick(PickInfo) (PickResult, error) {
	p.picks.Add(1)
	return PickResult{Index: 0, Done: func(DoneInfo) { p.dones.Add(1) }}, nil
}

// TestSingleBackendPath: with one backend, the pickers lbclient ships are not asked (the
// set is marked single) and calls still count, fail, eject and go to the ejected backend
// (panic mode); a Picker of the caller's own is still asked, with its done callback.
func TestSingleBackendPath(t *testing.T) {
	s := startEcho(t)
	boom := errors.New("backend down")
	for _, p := range []Picker{PickLeastPending, PickRoundRobin, PickRandom, PickHash} {
		t.Run(p.String(), func(t *testing.T) {
			b := newTestBalancer(t, s.addr, WithPicker(p), WithFailureThreshold(2),
				WithBackendFailure(func(err error) bool { return errors.Is(err, boom) }))
			if !b.set.Load().single {
				t.Fatal("a set of one with a shipped picker is not marked single")
			}
			run(t, b, 4, 40, func(i int) string { return fmt.Sprint(i) })
			for i := 0; i < 2; i++ {
				if err := b.Do(context.Background(), "", func(context.Context, *echoConn) error { return boom }); !errors.Is(err, boom) {
					t.Fatalf("Do = %v, want %v", err, boom)
				}
			}
			if st := b.Stats()[0]; st.Health != Ejected || st.Successes != 40 || st.Failures != 2 || st.Pending != 0 {
				t.Fatalf("stats %+v: want ejected after 40 successes and 2 failures, nothing pending", st)
			}
			run(t, b, 1, 1, nil) // panic mode: the ejected backend is the only one
			if st := b.Stats()[0]; st.Successes != 41 || st.ConsecutiveFailures != 0 {
				t.Fatalf("stats %+v: want 41 successes, the failure run reset", st)
			}
		})
	}
	t.Run("own picker", func(t *testing.T) {
		var picks, dones atomic.Int64
		b := newTestBalancer(t, s.addr, WithPicker(countingPicker{&picks, &dones}))
		if b.set.Load().single {
			t.Fatal("a set with the caller's picker is marked single")
		}
		run(t, b, 2, 10, nil)
		if picks.Load() != 10 || dones.Load() != 10 {
			t.Fatalf("picker asked %d times, done called %d times; want 10 and 10", picks.Load(), dones.Load())
		}
	})
}

// TestSingleBackendRetriesNotSent: a set of one sends a call marked NotSent to
// its one backend again (its client's next connection: how dora resends a call
// its server GOAWAY'd), up to PickAttempts times in all, with Do and Begin; a
// call that may have reached the backend is not repeated.
func TestSingleBackendRetriesNotSent(t *testing.T) {
	s := startEcho(t)
	refused := errors.New("refused before any byte was processed")
	b := newTestBalancer(t, s.addr, WithPickAttempts(3))
	var tries int
	err := b.Do(context.Background(), "", func(ctx context.Context, c *echoConn) error {
		if tries++; tries < 3 {
			return NotSent(refused)
		}
		return c.call(ctx)
	})
	if err != nil || tries != 3 {
		t.Fatalf("Do: %v after %d tries, want success on the third", err, tries)
	}
	tries = 0
	err = b.Do(context.Background(), "", func(context.Context, *echoConn) error { tries++; return NotSent(refused) })
	if !errors.Is(err, refused) || IsNotSent(err) || tries != 3 {
		t.Fatalf("Do never sent: %v (NotSent mark %v) after %d tries, want the error unmarked after 3", err, IsNotSent(err), tries)
	}
	tries = 0
	err = b.Begin(context.Background(), "", func(ctx context.Context, c *echoConn, done func(error)) error {
		if tries++; tries < 2 {
			return NotSent(refused)
		}
		done(nil)
		return nil
	})
	if err != nil || tries != 2 {
		t.Fatalf("Begin: %v after %d tries, want success on the second", err, tries)
	}
	tries = 0
	maybeSent := errors.New("connection lost after the request was written")
	err = b.Do(context.Background(), "", func(context.Context, *echoConn) error { tries++; return maybeSent })
	if !errors.Is(err, maybeSent) || tries != 1 {
		t.Fatalf("a call that may have been sent: %v after %d tries, want 1", err, tries)
	}
}
