package lbclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// avoidDraws is how many random draws Pick makes to avoid the backend whose dial just failed.
const avoidDraws = 4

// Dialer opens a connection (or client) of type C to addr ("host:port"). Its
// errors are backend failures. It is called with the context of the call that
// needs the connection, or the balancer's context (cancelled by Close) to keep
// MinConns open; it must return when its context is done, or Close waits for it.
type Dialer[C any] func(ctx context.Context, addr string) (C, error)

// Balancer spreads calls over backends. It is safe for concurrent use. Create
// it with New or NewWithResolver; Close it to stop its goroutines and close
// its connections.
type Balancer[C io.Closer] struct {
	cfg  config
	dial Dialer[C]
	res  Resolver

	set atomic.Pointer[backendSet[C]]

	mu     sync.Mutex // serialises updates and Close
	closed atomic.Bool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{} // wakes the maintenance goroutine (pool top-up)
}

// Lease is a connection picked for one call. Call Done exactly once with the
// call's error; using the connection after Done, or calling Done twice, is a
// misuse with undefined results.
type Lease[C io.Closer] struct {
	// Conn is the connection to use for the call.
	Conn C
	// Addr is the backend's address.
	Addr string

	b     *Balancer[C]
	be    *backend[C]
	pc    *pconn[C]
	start int64
	trial bool
}

// New builds a Balancer for target, dialing connections with dial. Targets:
//
//	host:port#weight,...        static list (ParseTarget); an "lb:///" prefix is allowed
//	dns:///host:port[#weight]   A/AAAA records, re-resolved every DefaultDNSRefresh
//	srv:///_service._proto.name SRV records, re-resolved every DefaultDNSRefresh
//	file:///path/to/file        a file in target syntax, polled every DefaultFilePoll
//
// New resolves the target once and fails on error (a malformed static entry
// is an error naming it, wrapping ErrBadTarget); it does not dial: connections
// open in the background and on first use.
func New[C io.Closer](target string, dial Dialer[C], opts ...Option) (*Balancer[C], error) {
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	r, err := resolverFor(target, &cfg)
	if err != nil {
		return nil, err
	}
	return start(r, dial, cfg)
}

// NewWithResolver is New with a Resolver instead of a target string (a Static
// to change the list in code, or a user resolver).
func NewWithResolver[C io.Closer](r Resolver, dial Dialer[C], opts ...Option) (*Balancer[C], error) {
	if r == nil {
		return nil, fmt.Errorf("%w: nil resolver", ErrBadOption)
	}
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	return start(r, dial, cfg)
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
	return cfg, cfg.validate()
}

func start[C io.Closer](r Resolver, dial Dialer[C], cfg config) (*Balancer[C], error) {
	if dial == nil {
		return nil, fmt.Errorf("%w: nil dialer", ErrBadOption)
	}
	eps, err := r.Resolve(context.Background())
	if err != nil {
		return nil, err
	}
	b := &Balancer[C]{cfg: cfg, dial: dial, res: r, kick: make(chan struct{}, 1)}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.set.Store(newBackendSet[C](nil, nil, cfg.virtualNodes, false))
	if err := b.apply(eps); err != nil {
		return nil, err
	}
	b.wg.Add(2)
	go b.watch()
	go b.maintain()
	if cfg.probe != nil {
		b.wg.Add(1)
		go b.probeLoop()
	}
	return b, nil
}

// apply installs a new endpoint set: existing backends keep their pools and
// health, new ones are created, removed ones drain (in-flight calls finish,
// then their pool closes). An unchanged set is a no-op; an invalid one (bad
// weight or address, duplicate) is an error wrapping ErrBadTarget and changes nothing.
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
	ws := make([]int, 0, len(eps))
	for _, e := range eps {
		be := byAddr[e.Addr]
		if be == nil {
			be = &backend[C]{addr: e.Addr}
		}
		delete(byAddr, e.Addr)
		be.weight.Store(int32(e.Weight))
		bs = append(bs, be)
		ws = append(ws, e.Weight)
	}
	b.set.Store(newBackendSet(bs, ws, b.cfg.virtualNodes, b.cfg.picker == PickHash))
	for _, be := range byAddr {
		be.retire()
	}
	select {
	case b.kick <- struct{}{}:
	default:
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
		if s.backends[i].addr != e.Addr || s.weights[i] != e.Weight {
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

// maintain closes idle connections beyond MinConns and opens connections up to MinConns.
func (b *Balancer[C]) maintain() {
	defer b.wg.Done()
	every := max(min(b.cfg.idleTimeout/2, 5*time.Second), time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s := b.set.Load()
		now := nanotime()
		for _, be := range s.backends {
			be.pool.reap(now, int64(b.cfg.idleTimeout), b.cfg.minConns)
			if b.cfg.minConns > 0 && be.healthy() {
				if err := be.pool.fill(b.ctx, be.addr, b.dial, b.cfg.minConns, nanotime); err != nil && b.ctx.Err() == nil {
					be.record(&b.cfg, true, false, 0, nanotime())
				}
			}
		}
		select {
		case <-t.C:
		case <-b.kick:
		case <-b.ctx.Done():
			return
		}
	}
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
// string, may be empty) and takes a connection from its pool, dialing one if
// needed. A backend whose ejection backoff has ended gets the next call as
// its half-open trial, whatever the key. When dialing fails Pick records a
// backend failure and tries another backend, up to PickAttempts backends. It
// waits for a free connection when the backend's pool is at MaxConns, bounded
// by ctx; connections retired by an ejection do not count toward MaxConns,
// and a call waiting on a backend that gets ejected picks again. The returned Lease must be finished with Done exactly once (the
// zero Lease returned with an error must not be). Errors: ErrNoBackends,
// ErrClosed, ctx's error, or the last dial error (wrapped, naming the address).
func (b *Balancer[C]) Pick(ctx context.Context, key string) (Lease[C], error) {
	var lastErr error
	var lastFailed *backend[C]
	for attempt := 0; attempt < b.cfg.pickAttempts; {
		if b.closed.Load() {
			return Lease[C]{}, ErrClosed
		}
		be, trial, err := b.pickBackend(key, lastFailed)
		if err != nil {
			return Lease[C]{}, err
		}
		pc, dialErr, err := be.pool.get(ctx, be.addr, b.dial, b.cfg.maxConns, b.cfg.maxCallsPerConn)
		if err == nil {
			return Lease[C]{Conn: pc.c, Addr: be.addr, b: b, be: be, pc: pc, start: nanotime(), trial: trial}, nil
		}
		switch {
		case err == errBackendGone || err == errRepick:
			// Removed (or balancer closed), or ejected while the call
			// waited for a slot: pick again, without counting an attempt.
			if trial {
				be.trial.Store(false)
			}
			be.release()
			continue
		case dialErr && ctx.Err() == nil:
			be.record(&b.cfg, true, trial, 0, nanotime())
			be.release()
			lastErr = fmt.Errorf("lbclient: dial %s: %w", be.addr, err)
			lastFailed = be
			attempt++
			continue
		}
		if trial {
			be.trial.Store(false)
		}
		be.release()
		return Lease[C]{}, err
	}
	return Lease[C]{}, lastErr
}

// pickBackend selects a backend and counts a pending call on it, avoiding
// (when another eligible backend turns up in a few draws) the one whose dial
// just failed. It allocates nothing.
func (b *Balancer[C]) pickBackend(key string, avoid *backend[C]) (*backend[C], bool, error) {
	for {
		s := b.set.Load()
		n := len(s.backends)
		if n == 0 {
			return nil, false, ErrNoBackends
		}
		var be *backend[C]
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
			if be == nil && c.claimTrial(now) {
				be, trial = c, true
			}
		}
		if be == nil {
			// all: every backend is eligible, because all are healthy or
			// because too few are (panic mode); pickers then skip health checks.
			all := healthy == n || healthy == 0 || healthy*100 < b.cfg.panicThreshold*n
			be = s.backends[s.pick(b.cfg.picker, key, all)]
			for i := 0; be == avoid && i < avoidDraws; i++ {
				be = s.backends[s.pickRandom(all)]
			}
		}
		be.pending.Add(1)
		if !be.removed.Load() {
			return be, trial, nil
		}
		if trial {
			be.trial.Store(false)
		}
		be.release()
	}
}

// Done finishes the call: it records the outcome (err classified by the
// BackendFailure option; nil is a success) and latency, and returns the
// connection to its pool, discarding it on a backend failure (unless
// WithDiscardOnFailure(false)) and all the backend's connections when the
// failure ejects it.
func (l Lease[C]) Done(err error) {
	b, be := l.b, l.be
	now := nanotime()
	failure := err != nil && b.cfg.isBackendFailure(err)
	be.record(&b.cfg, failure, l.trial, now-l.start, now)
	be.pool.put(l.pc, failure && b.cfg.discardOnFailure, now)
	be.release()
}

// Do runs fn with a connection to a picked backend (see Pick) and records the
// outcome (see Lease.Done). It returns fn's error, or Pick's error without
// calling fn. A panic in fn is recorded as ErrPanicked and re-raised.
func (b *Balancer[C]) Do(ctx context.Context, key string, fn func(ctx context.Context, c C) error) error {
	l, err := b.Pick(ctx, key)
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			l.Done(ErrPanicked)
		}
	}()
	err = fn(ctx, l.Conn)
	done = true
	l.Done(err)
	return err
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
		out[i] = Endpoint{Addr: be.addr, Weight: s.weights[i]}
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

// Close stops the resolver, maintenance and probe goroutines and closes every
// idle connection; connections of calls in flight close when their Lease is
// done, or at once with WithCloseInFlight (set by WithSharedClient). Later Pick
// and Do calls return ErrClosed. Close is idempotent and returns nil.
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
		be.pool.close(b.cfg.closeInFlight)
	}
	return nil
}
