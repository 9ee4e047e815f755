package lbclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// avoidDraws is how many random draws a retry makes to avoid the backend the call could not reach.
const avoidDraws = 4

// NewClientFunc returns the shared client of the backend at addr ("host:port").
// The balancer calls it once when addr joins the backend set, and closes the
// client when addr leaves the set (once its calls are done) or the balancer
// closes (calls in flight then fail, as the client's Close decides). It
// should not wait for the network: the client connects on its first call
// (or when asked, see Connector) and reconnects by itself after failures.
// An error fails New, Refresh or the resolver update that added addr.
type NewClientFunc[C io.Closer] func(addr string) (C, error)

// Connector is implemented by shared clients that can be told to connect
// now. The recovery check of an ejected backend (WithRecovery) calls Connect:
// it should return nil when the client has a usable connection or opened one,
// bypassing any reconnect backoff of its own, and an error otherwise.
type Connector interface {
	Connect(ctx context.Context) error
}

// Balancer spreads calls over backends, each served by one shared client of
// type C that the caller supplies (grpc-go's shape: resolver, health and
// picker over one client per address; the client multiplexes and reconnects
// by itself). It is safe for concurrent use. Create it with New or
// NewWithResolver; Close it to stop its goroutines and close the clients.
type Balancer[C io.Closer] struct {
	cfg       config
	newClient NewClientFunc[C]
	res       Resolver

	set atomic.Pointer[backendSet[C]]

	mu     sync.Mutex // serialises updates and Close
	closed atomic.Bool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// wakeRecovery wakes the recovery loop when a backend is ejected (buffered, 1).
	wakeRecovery chan struct{}
}

// backendSet is an immutable snapshot of the backends with the picker built for them.
type backendSet[C io.Closer] struct {
	backends []*backend[C]
	set      *Set
	picker   SetPicker
	// single is set for a set of one backend with a picker lbclient ships: every pick
	// is that backend, so pick does not ask the picker (no draw, no lock).
	single bool
}

// Lease is a backend's client picked for one call. Call Done exactly once with
// the call's error; calling Done twice is a misuse with undefined results.
type Lease[C io.Closer] struct {
	// Conn is the backend's shared client.
	Conn C
	// Addr is the backend's address.
	Addr string

	b     *Balancer[C]
	be    *backend[C]
	start int64
	trial bool
	done  func(DoneInfo) // the picker's, may be nil
}

// New builds a Balancer for target, with one client per backend made by
// newClient. Targets:
//
//	host:port#weight,...        static list (ParseTarget); an "lb:///" prefix is allowed
//	dns:///host:port[#weight]   A/AAAA records, re-resolved every DefaultDNSRefresh
//	srv:///_service._proto.name SRV records, re-resolved every DefaultDNSRefresh
//	file:///path/to/file        a file in target syntax, polled every DefaultFilePoll
//
// New resolves the target once and fails on error (a malformed static entry
// is an error naming it, wrapping ErrBadTarget), and fails if newClient does.
func New[C io.Closer](target string, newClient NewClientFunc[C], opts ...Option) (*Balancer[C], error) {
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	r, err := resolverFor(target, &cfg)
	if err != nil {
		return nil, err
	}
	return start(r, newClient, cfg)
}

// NewWithResolver is New with a Resolver instead of a target string (a Static
// to change the list in code, or a user resolver).
func NewWithResolver[C io.Closer](r Resolver, newClient NewClientFunc[C], opts ...Option) (*Balancer[C], error) {
	if r == nil {
		return nil, fmt.Errorf("%w: nil resolver", ErrBadOption)
	}
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	return start(r, newClient, cfg)
}

func buildConfig(opts []Option) (config, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if h, ok := cfg.picker.(hashRing); ok {
		h.vnodes = cfg.virtualNodes
		cfg.picker = h
	}
	return cfg, cfg.validate()
}

func start[C io.Closer](r Resolver, newClient NewClientFunc[C], cfg config) (*Balancer[C], error) {
	if newClient == nil {
		return nil, fmt.Errorf("%w: nil NewClientFunc", ErrBadOption)
	}
	eps, err := r.Resolve(context.Background())
	if err != nil {
		return nil, err
	}
	b := &Balancer[C]{cfg: cfg, newClient: newClient, res: r, wakeRecovery: make(chan struct{}, 1)}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.set.Store(&backendSet[C]{set: newSet(nil, nil)})
	if err := b.apply(eps); err != nil {
		return nil, err
	}
	b.wg.Add(1)
	go b.watch()
	if cfg.recoveryInterval > 0 {
		b.wg.Add(1)
		go b.recoverLoop()
	}
	if cfg.probe != nil {
		b.wg.Add(1)
		go b.probeLoop()
	}
	return b, nil
}

// apply installs a new endpoint set: existing backends keep their clients and
// health, new ones get a client from newClient, removed ones drain (in-flight
// calls finish, then their client closes). An unchanged set is a no-op; an
// invalid one (bad weight or address, duplicate) is an error wrapping
// ErrBadTarget and changes nothing, as does a newClient error.
func (b *Balancer[C]) apply(eps []Endpoint) error {
	if err := validateEndpoints(eps); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return ErrClosed
	}
	old := b.set.Load()
	if sameEndpoints(old, eps) {
		return nil
	}
	byAddr := make(map[string]*backend[C], len(old.backends))
	for _, be := range old.backends {
		byAddr[be.addr] = be
	}
	bs := make([]*backend[C], 0, len(eps))
	nodes := make([]*node, 0, len(eps))
	ws := make([]int, 0, len(eps))
	var fresh []*backend[C]
	for _, e := range eps {
		be := byAddr[e.Addr]
		if be == nil {
			c, err := b.newClient(e.Addr)
			if err != nil {
				for _, f := range fresh {
					f.closeClient()
				}
				return fmt.Errorf("lbclient: client for %s: %w", e.Addr, err)
			}
			be = &backend[C]{client: c}
			be.addr = e.Addr
			fresh = append(fresh, be)
		}
		bs = append(bs, be)
		nodes = append(nodes, &be.node)
		ws = append(ws, e.Weight)
	}
	for _, be := range bs {
		delete(byAddr, be.addr)
	}
	for i, be := range bs {
		be.weight.Store(int32(ws[i]))
	}
	set := newSet(nodes, ws)
	b.set.Store(&backendSet[C]{backends: bs, set: set, picker: b.cfg.picker.Build(set),
		single: len(bs) == 1 && shippedPicker(b.cfg.picker)})
	for _, be := range byAddr {
		be.retire()
	}
	if b.cfg.onUpdate != nil {
		b.cfg.onUpdate(slices.Clone(eps))
	}
	return nil
}

func sameEndpoints[C io.Closer](s *backendSet[C], eps []Endpoint) bool {
	if len(s.backends) != len(eps) {
		return false
	}
	for i, e := range eps {
		if s.backends[i].addr != e.Addr || s.set.weights[i] != e.Weight {
			return false
		}
	}
	return true
}

func (b *Balancer[C]) watch() {
	defer b.wg.Done()
	logErr := func(err error) {
		b.cfg.logger.Warn("lbclient: resolver error, keeping the current backends", "err", err)
	}
	_ = b.res.Watch(b.ctx, func(eps []Endpoint) {
		if err := b.apply(eps); err != nil && !errors.Is(err, ErrClosed) {
			logErr(err)
		}
	}, logErr)
}

// Refresh resolves the target now and applies the result. It returns the
// resolver's error or an invalid set's error (the current backends are then
// kept), or ErrClosed. An empty set is applied: calls then fail with ErrNoBackends.
func (b *Balancer[C]) Refresh(ctx context.Context) error {
	if b.closed.Load() {
		return ErrClosed
	}
	eps, err := b.res.Resolve(ctx)
	if err != nil {
		return err
	}
	return b.apply(eps)
}

// recoverLoop checks the reachability of ejected backends every recovery
// interval (see WithRecovery): one seen down that answers again gets its
// half-open trial at once. While no backend is ejected it sleeps until an
// ejection wakes it (kickRecovery).
func (b *Balancer[C]) recoverLoop() {
	defer b.wg.Done()
	t := time.NewTimer(b.cfg.recoveryInterval)
	defer t.Stop()
	for {
		ejected := false
		for _, be := range b.set.Load().backends {
			if be.ejectedUntil.Load() != 0 {
				ejected = true
				break
			}
		}
		if !ejected {
			select {
			case <-b.wakeRecovery:
			case <-b.ctx.Done():
				return
			}
		}
		t.Reset(b.cfg.recoveryInterval)
		select {
		case <-t.C:
		case <-b.ctx.Done():
			return
		}
		for _, be := range b.set.Load().backends {
			u := be.ejectedUntil.Load()
			if u == 0 || be.trial.Load() || be.removed.Load() || nanotime() >= u {
				continue
			}
			ctx, cancel := context.WithTimeout(b.ctx, b.cfg.recoveryInterval)
			err := b.recoveryProbe(ctx, be)
			cancel()
			if b.ctx.Err() != nil {
				return
			}
			if err != nil {
				be.sawDown.Store(true)
				continue
			}
			if be.recovered(nanotime()) {
				b.cfg.logger.Info("lbclient: ejected backend reachable again, trying it now", "addr", be.addr)
			}
		}
	}
}

// kickRecovery wakes the recovery loop after an ejection.
func (b *Balancer[C]) kickRecovery() {
	select {
	case b.wakeRecovery <- struct{}{}:
	default:
	}
}

// recoveryProbe is WithRecovery's probe, the client's Connect, or a TCP connection.
func (b *Balancer[C]) recoveryProbe(ctx context.Context, be *backend[C]) error {
	if b.cfg.recoveryProbe != nil {
		return b.cfg.recoveryProbe(ctx, be.addr)
	}
	if c, ok := any(be.client).(Connector); ok {
		return c.Connect(ctx)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", be.addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// probeLoop runs the active probe over every backend each interval.
func (b *Balancer[C]) probeLoop() {
	defer b.wg.Done()
	t := time.NewTicker(b.cfg.probeInterval)
	defer t.Stop()
	for {
		for _, be := range b.set.Load().backends {
			ctx, cancel := context.WithTimeout(b.ctx, b.cfg.probeInterval)
			err := b.cfg.probe(ctx, be.addr)
			cancel()
			if b.ctx.Err() != nil {
				return
			}
			if err != nil && !be.probeDown.Load() {
				b.cfg.logger.Warn("lbclient: probe failed, backend down", "addr", be.addr, "err", err)
			}
			be.probeDown.Store(err != nil)
			if err == nil && be.probeRestore() {
				b.cfg.logger.Info("lbclient: probe succeeded, ejection ended", "addr", be.addr)
			}
		}
		select {
		case <-t.C:
		case <-b.ctx.Done():
			return
		}
	}
}

// Pick chooses a backend for a call with the given key (used by PickHash; any
// string, may be empty) and counts the call as pending on it. A backend whose
// ejection backoff has ended gets the next call as its half-open trial,
// whatever the key. Picking never waits and allocates nothing; ctx is not
// used today. The returned Lease must be finished with Done exactly once (the
// zero Lease returned with an error must not be). Pick does not move calls
// that never reached their backend: Do and Begin do. Errors: ErrNoBackends,
// ErrClosed, or the error of a Picker of your own.
func (b *Balancer[C]) Pick(ctx context.Context, key string) (Lease[C], error) {
	return b.pick(key, nil)
}

func (b *Balancer[C]) pick(key string, avoid *backend[C]) (Lease[C], error) {
	if b.closed.Load() {
		return Lease[C]{}, ErrClosed
	}
	for {
		s := b.set.Load()
		n := len(s.backends)
		if n == 0 {
			return Lease[C]{}, ErrNoBackends
		}
		var be *backend[C]
		var done func(DoneInfo)
		trial := false
		healthy := 0
		now := int64(-1)
		for _, c := range s.backends {
			if c.healthy() {
				healthy++
				continue
			}
			if now < 0 {
				now = nanotime()
			}
			if be == nil && c != avoid && c.claimTrial(now) {
				be, trial = c, true
			}
		}
		if be == nil && s.single {
			be = s.backends[0] // what every shipped picker answers for a set of one
		}
		if be == nil {
			// IgnoreHealth: every backend is eligible, because all are healthy or
			// because too few are (panic mode); pickers then skip health checks.
			info := PickInfo{Key: key, set: s.set,
				IgnoreHealth: healthy == n || healthy == 0 || healthy*100 < b.cfg.panicThreshold*n}
			r, err := s.picker.Pick(info)
			if err != nil {
				return Lease[C]{}, err
			}
			if r.Index < 0 || r.Index >= n {
				return Lease[C]{}, fmt.Errorf("lbclient: picker %v chose backend %d of %d", b.cfg.picker, r.Index, n)
			}
			be, done = s.backends[r.Index], r.Done
			for i := 0; be == avoid && i < avoidDraws; i++ {
				be, done = s.backends[s.set.pickRandom(info)], nil
			}
		}
		be.pending.Add(1)
		if !be.removed.Load() {
			return Lease[C]{Conn: be.client, Addr: be.addr, b: b, be: be, start: nanotime(), trial: trial, done: done}, nil
		}
		// Removed since the set was loaded: pick again on the new set.
		if trial {
			be.trial.Store(false)
		}
		be.release()
	}
}

// Done finishes the call: it records the outcome (err, without a NotSent
// mark, classified by the BackendFailure option; nil is a success) and
// latency, tells the picker's done callback, and releases the backend.
func (l Lease[C]) Done(err error) {
	err, unsent := unmark(err)
	l.finish(err, unsent)
}

func (l Lease[C]) finish(err error, unsent bool) {
	b, be := l.b, l.be
	now := nanotime()
	failure := err != nil && b.cfg.isBackendFailure(err)
	be.record(&b.cfg, failure, unsent, l.trial, now-l.start, now)
	if failure && be.ejectedUntil.Load() != 0 {
		b.kickRecovery()
	}
	if l.done != nil {
		l.done(DoneInfo{Err: err, BackendFailure: failure, Latency: time.Duration(now - l.start)})
	}
	be.release()
}

// again reports whether a call whose attempt failed with err (unsent: it never
// reached its backend) should be picked again: on another backend when the
// set has one, else on the same (its client's next connection: a server that
// said GOAWAY is reached again on a new one).
func (b *Balancer[C]) again(ctx context.Context, unsent bool, attempt int) bool {
	return unsent && attempt < b.cfg.pickAttempts && ctx.Err() == nil && !b.closed.Load()
}

// Do runs fn with a picked backend's client (see Pick) and records the
// outcome (see Lease.Done). When fn's error is marked with NotSent (the call
// provably never reached the backend), the call is picked again, avoiding that
// backend when the set has another (a set of one tries its backend again, on
// its client's next connection), up to PickAttempts attempts in all while its
// context lasts; a call that may have reached a backend is never repeated. It returns fn's last error without its NotSent mark, or Pick's
// error without calling fn. A panic in fn is recorded as ErrPanicked and
// re-raised.
func (b *Balancer[C]) Do(ctx context.Context, key string, fn func(ctx context.Context, c C) error) error {
	var avoid *backend[C]
	for attempt := 1; ; attempt++ {
		l, err := b.pick(key, avoid)
		if err != nil {
			return err
		}
		err = l.run(ctx, fn)
		err, unsent := unmark(err)
		l.finish(err, unsent)
		if err == nil || !b.again(ctx, unsent, attempt) {
			return err
		}
		avoid = l.be
	}
}

// run calls fn, recording a panic as ErrPanicked before re-raising it.
func (l Lease[C]) run(ctx context.Context, fn func(ctx context.Context, c C) error) error {
	ok := false
	defer func() {
		if !ok {
			l.Done(ErrPanicked)
		}
	}()
	err := fn(ctx, l.Conn)
	ok = true
	return err
}

// beginOne calls fn, finishing the call with ErrPanicked (unless done already ran) before
// re-raising a panic.
func beginOne[C io.Closer](ctx context.Context, c C, fn func(ctx context.Context, c C, done func(error)) error, done func(error)) error {
	ok := false
	defer func() {
		if !ok {
			done(ErrPanicked)
		}
	}()
	err := fn(ctx, c, done)
	ok = true
	return err
}

// Begin is Do for a call that outlives fn, such as a stream: when fn returns
// nil the call stays pending on its backend until fn's done function is
// called, once, with the call's outcome (later calls of done do nothing).
// When fn returns an error, Begin records it (fn must not call done then)
// and, for an error marked with NotSent, picks again as Do does. A panic in
// fn is recorded as ErrPanicked and re-raised.
func (b *Balancer[C]) Begin(ctx context.Context, key string, fn func(ctx context.Context, c C, done func(error)) error) error {
	var avoid *backend[C]
	for attempt := 1; ; attempt++ {
		l, err := b.pick(key, avoid)
		if err != nil {
			return err
		}
		var once atomic.Bool
		done := func(err error) {
			if once.CompareAndSwap(false, true) {
				l.Done(err)
			}
		}
		err = beginOne(ctx, l.Conn, fn, done)
		if err == nil {
			return nil
		}
		err, unsent := unmark(err)
		if once.CompareAndSwap(false, true) {
			l.finish(err, unsent)
		}
		if !b.again(ctx, unsent, attempt) {
			return err
		}
		avoid = l.be
	}
}

// Stats returns a snapshot of every current backend, in target order.
func (b *Balancer[C]) Stats() []BackendStats {
	s := b.set.Load()
	now := nanotime()
	out := make([]BackendStats, len(s.backends))
	for i, be := range s.backends {
		out[i] = be.stats(now)
	}
	return out
}

// Endpoints returns the current endpoint set, in target order.
func (b *Balancer[C]) Endpoints() []Endpoint {
	s := b.set.Load()
	out := make([]Endpoint, len(s.backends))
	for i, be := range s.backends {
		out[i] = Endpoint{Addr: be.addr, Weight: s.set.weights[i]}
	}
	return out
}

// String describes the balancer for logs: picker and endpoints.
func (b *Balancer[C]) String() string {
	var sb strings.Builder
	sb.WriteString("lbclient.Balancer(")
	sb.WriteString(b.cfg.picker.String())
	sb.WriteString(": ")
	sb.WriteString(FormatTarget(b.Endpoints()))
	sb.WriteString(")")
	return sb.String()
}

// Close stops the resolver, recovery and probe goroutines and closes every
// backend's client, also those carrying calls (their calls fail as the
// client's Close decides, as closing a grpc-go ClientConn fails its pending
// RPCs). Later Pick, Do and Begin calls return ErrClosed. Close is idempotent
// and returns nil.
func (b *Balancer[C]) Close() error {
	b.mu.Lock()
	if b.closed.Swap(true) {
		b.mu.Unlock()
		return nil
	}
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
	for _, be := range b.set.Load().backends {
		be.closeClient()
	}
	return nil
}
