package lbclient

import (
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// epoch anchors nanotime; time.Since reads the monotonic clock and allocates nothing.
var epoch = time.Now()

func nanotime() int64 { return int64(time.Since(epoch)) }

// Health is a backend's state as shown in BackendStats.
type Health int

// The health states.
const (
	// Healthy backends take calls.
	Healthy Health = iota
	// Ejected backends failed FailureThreshold calls in a row and take no calls until their backoff ends.
	Ejected
	// HalfOpen backends finished their backoff and carry (or are about to carry) one trial call.
	HalfOpen
	// ProbeDown backends failed their last active probe.
	ProbeDown
)

// String returns "healthy", "ejected", "half-open" or "probe-down".
func (h Health) String() string {
	switch h {
	case Healthy:
		return "healthy"
	case Ejected:
		return "ejected"
	case HalfOpen:
		return "half-open"
	case ProbeDown:
		return "probe-down"
	}
	return "unknown"
}

// BackendStats is a snapshot of one backend, as returned by Balancer.Stats.
type BackendStats struct {
	Addr   string
	Weight int
	Health Health
	// Pending is the number of calls picked and not yet done.
	Pending int64
	// Successes and Failures count finished calls (application errors count as successes).
	Successes, Failures uint64
	// ConsecutiveFailures is the current run of backend failures.
	ConsecutiveFailures int64
	// Ejections counts how many times the backend was ejected.
	Ejections uint64
	// Latency is the exponentially weighted moving average of the latency of
	// successful calls, from connection acquired to Done (weight of a new sample: 0.2).
	Latency time.Duration
	// Conns and IdleConns count the pool's open connections and those carrying no call.
	Conns, IdleConns int
}

// backend is one address: its pool, counters and health. It is shared by every
// backend set that contains its address, so its state survives weight changes.
type backend[C io.Closer] struct {
	addr   string
	weight atomic.Int32
	pool   pool[C]

	pending     atomic.Int64
	successes   atomic.Uint64
	failures    atomic.Uint64
	consecutive atomic.Int64
	ejections   atomic.Uint64
	latencyBits atomic.Uint64 // float64 EWMA in nanoseconds

	// Health: ejectedUntil is 0 while not ejected, else the nanotime when the
	// backoff ends; trial is set while the half-open trial call is out;
	// backoffStep counts ejections since the last recovery.
	ejectedUntil atomic.Int64
	trial        atomic.Bool
	backoffStep  atomic.Int32
	probeDown    atomic.Bool

	removed   atomic.Bool
	closeOnce sync.Once
}

func (be *backend[C]) healthy() bool {
	return be.ejectedUntil.Load() == 0 && !be.probeDown.Load()
}

// claimTrial reports whether be's backoff is over and this caller won its single trial call.
func (be *backend[C]) claimTrial(now int64) bool {
	u := be.ejectedUntil.Load()
	return u != 0 && now >= u && !be.probeDown.Load() && !be.trial.Load() && be.trial.CompareAndSwap(false, true)
}

func (be *backend[C]) health(now int64) Health {
	switch {
	case be.probeDown.Load():
		return ProbeDown
	case be.ejectedUntil.Load() == 0:
		return Healthy
	case be.trial.Load() || now >= be.ejectedUntil.Load():
		return HalfOpen
	}
	return Ejected
}

// record books a finished call: failure is a backend failure, trial whether it was the half-open trial.
func (be *backend[C]) record(cfg *config, failure, trial bool, latency int64, now int64) {
	if failure {
		be.failures.Add(1)
		n := be.consecutive.Add(1)
		if trial {
			be.eject(cfg, now, true)
			be.trial.Store(false)
		} else if n >= int64(cfg.failureThreshold) && be.ejectedUntil.Load() == 0 {
			be.eject(cfg, now, false)
		}
		return
	}
	be.successes.Add(1)
	be.consecutive.Store(0)
	if trial {
		be.backoffStep.Store(0)
		be.ejectedUntil.Store(0)
		be.trial.Store(false)
	}
	be.observe(latency)
}

// probeRestore ends an ejection after a successful active probe, as a successful trial call
// would: the backend serves again at once instead of at the end of its backoff. It reports
// whether be was ejected. A trial call already out is left to finish (a failure re-ejects).
func (be *backend[C]) probeRestore() bool {
	if be.ejectedUntil.Load() == 0 || be.trial.Load() {
		return false
	}
	be.consecutive.Store(0)
	be.backoffStep.Store(0)
	return be.ejectedUntil.Swap(0) != 0
}

// eject starts a backoff of base·2^k (capped at max), where k counts
// ejections since the last recovery, and retires the pool's connections. A
// failed trial re-ejects; otherwise only the first of concurrent failures
// crossing the threshold ejects.
func (be *backend[C]) eject(cfg *config, now int64, trial bool) {
	d := cfg.baseEjection
	for i := int32(0); i < be.backoffStep.Load() && d < cfg.maxEjection; i++ {
		d *= 2
	}
	until := now + int64(min(d, cfg.maxEjection))
	if until == 0 {
		until = 1 // 0 means "not ejected"
	}
	if trial {
		be.ejectedUntil.Store(until)
	} else if !be.ejectedUntil.CompareAndSwap(0, until) {
		return
	}
	be.backoffStep.Add(1)
	be.ejections.Add(1)
	// The connections of a failing backend are most likely broken too: the
	// half-open trial should dial afresh rather than fail on a stale one.
	be.pool.invalidate()
}

func (be *backend[C]) observe(latency int64) {
	for {
		old := be.latencyBits.Load()
		v := float64(latency)
		if old != 0 {
			prev := math.Float64frombits(old)
			v = prev + ewmaAlpha*(v-prev)
		}
		if v == 0 {
			v = math.SmallestNonzeroFloat64
		}
		if be.latencyBits.CompareAndSwap(old, math.Float64bits(v)) {
			return
		}
	}
}

// release drops one pending call and closes the pool of a removed backend once it is drained.
func (be *backend[C]) release() {
	if be.pending.Add(-1) == 0 && be.removed.Load() {
		be.closePool()
	}
}

// retire marks be removed from the balancer; its pool closes once in-flight calls finish.
func (be *backend[C]) retire() {
	be.removed.Store(true)
	if be.pending.Load() == 0 {
		be.closePool()
	}
}

func (be *backend[C]) closePool() { be.closeOnce.Do(func() { be.pool.close(false) }) }

func (be *backend[C]) stats(now int64) BackendStats {
	open, idle := be.pool.counts()
	return BackendStats{
		Addr:                be.addr,
		Weight:              int(be.weight.Load()),
		Health:              be.health(now),
		Pending:             be.pending.Load(),
		Successes:           be.successes.Load(),
		Failures:            be.failures.Load(),
		ConsecutiveFailures: be.consecutive.Load(),
		Ejections:           be.ejections.Load(),
		Latency:             time.Duration(math.Float64frombits(be.latencyBits.Load())),
		Conns:               open,
		IdleConns:           idle,
	}
}
