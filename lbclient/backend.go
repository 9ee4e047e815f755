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
	// successful calls, from pick to Done (weight of a new sample: 0.2).
	Latency time.Duration
}

// node is the protocol-free state of one backend address: weight, load,
// counters and health. Pickers see it through a Set.
type node struct {
	addr   string
	weight atomic.Int32

	pending     atomic.Int64
	successes   atomic.Uint64
	failures    atomic.Uint64
	consecutive atomic.Int64
	ejections   atomic.Uint64
	latencyBits atomic.Uint64 // float64 EWMA in nanoseconds

	// Health: ejectedUntil is 0 while not ejected, else the nanotime when the
	// backoff ends; trial is set while the half-open trial call is out;
	// backoffStep counts ejections since the last recovery; sawDown is set
	// when, during the current ejection, the backend was seen unreachable (a
	// call that never reached it, or a failed recovery probe), so that a
	// recovery probe that then reaches it ends the backoff at once.
	ejectedUntil atomic.Int64
	trial        atomic.Bool
	backoffStep  atomic.Int32
	probeDown    atomic.Bool
	sawDown      atomic.Bool

	removed atomic.Bool
}

// backend is one address with its shared client. It is shared by every
// backend set that contains its address, so its state and client survive
// weight changes.
type backend[C io.Closer] struct {
	node
	client    C
	closeOnce sync.Once
}

func (n *node) healthy() bool {
	return n.ejectedUntil.Load() == 0 && !n.probeDown.Load()
}

// claimTrial reports whether n's backoff is over and this caller won its single trial call.
func (n *node) claimTrial(now int64) bool {
	u := n.ejectedUntil.Load()
	return u != 0 && now >= u && !n.probeDown.Load() && !n.trial.Load() && n.trial.CompareAndSwap(false, true)
}

func (n *node) health(now int64) Health {
	switch {
	case n.probeDown.Load():
		return ProbeDown
	case n.ejectedUntil.Load() == 0:
		return Healthy
	case n.trial.Load() || now >= n.ejectedUntil.Load():
		return HalfOpen
	}
	return Ejected
}

// record books a finished call: failure is a backend failure, unsent whether
// the call provably never reached the backend, trial whether it was the
// half-open trial.
func (n *node) record(cfg *config, failure, unsent, trial bool, latency int64, now int64) {
	if failure {
		n.failures.Add(1)
		c := n.consecutive.Add(1)
		if trial {
			n.eject(cfg, now, true, unsent)
			n.trial.Store(false)
		} else if c >= int64(cfg.failureThreshold) && n.ejectedUntil.Load() == 0 {
			n.eject(cfg, now, false, unsent)
		} else if unsent && n.ejectedUntil.Load() != 0 {
			n.sawDown.Store(true)
		}
		return
	}
	n.successes.Add(1)
	if n.consecutive.Load() != 0 { // a read, not a write of the shared line, on the usual path
		n.consecutive.Store(0)
	}
	if trial {
		n.backoffStep.Store(0)
		n.ejectedUntil.Store(0)
		n.trial.Store(false)
	}
	n.observe(latency)
}

// probeRestore ends an ejection after a successful active probe, as a successful trial call
// would: the backend serves again at once instead of at the end of its backoff. It reports
// whether n was ejected. A trial call already out is left to finish (a failure re-ejects).
func (n *node) probeRestore() bool {
	if n.ejectedUntil.Load() == 0 || n.trial.Load() {
		return false
	}
	n.consecutive.Store(0)
	n.backoffStep.Store(0)
	return n.ejectedUntil.Swap(0) != 0
}

// recovered ends the backoff of an ejected backend that was seen down and is
// reachable again: the next pick makes its half-open trial call. It reports
// whether it did.
func (n *node) recovered(now int64) bool {
	u := n.ejectedUntil.Load()
	if u == 0 || u <= now || n.trial.Load() || !n.sawDown.Load() {
		return false
	}
	return n.ejectedUntil.CompareAndSwap(u, max(now, 1))
}

// eject starts a backoff of base·2^k (capped at max), where k counts
// ejections since the last recovery. A failed trial re-ejects; otherwise
// only the first of concurrent failures crossing the threshold ejects. The
// backend's client is kept: it reconnects by itself.
func (n *node) eject(cfg *config, now int64, trial, unsent bool) {
	d := cfg.baseEjection
	for i := int32(0); i < n.backoffStep.Load() && d < cfg.maxEjection; i++ {
		d *= 2
	}
	until := now + int64(min(d, cfg.maxEjection))
	if until == 0 {
		until = 1 // 0 means "not ejected"
	}
	n.sawDown.Store(unsent)
	if trial {
		n.ejectedUntil.Store(until)
	} else if !n.ejectedUntil.CompareAndSwap(0, until) {
		return
	}
	n.backoffStep.Add(1)
	n.ejections.Add(1)
}

func (n *node) observe(latency int64) {
	for {
		old := n.latencyBits.Load()
		v := float64(latency)
		if old != 0 {
			prev := math.Float64frombits(old)
			v = prev + ewmaAlpha*(v-prev)
		}
		if v == 0 {
			v = math.SmallestNonzeroFloat64
		}
		if n.latencyBits.CompareAndSwap(old, math.Float64bits(v)) {
			return
		}
	}
}

// release drops one pending call and closes the client of a removed backend once it is drained.
func (be *backend[C]) release() {
	if be.pending.Add(-1) == 0 && be.removed.Load() {
		be.closeClient()
	}
}

// retire marks be removed from the balancer; its client closes once in-flight calls finish.
func (be *backend[C]) retire() {
	be.removed.Store(true)
	if be.pending.Load() == 0 {
		be.closeClient()
	}
}

func (be *backend[C]) closeClient() { be.closeOnce.Do(func() { be.client.Close() }) }

func (n *node) stats(now int64) BackendStats {
	return BackendStats{
		Addr:                n.addr,
		Weight:              int(n.weight.Load()),
		Health:              n.health(now),
		Pending:             n.pending.Load(),
		Successes:           n.successes.Load(),
		Failures:            n.failures.Load(),
		ConsecutiveFailures: n.consecutive.Load(),
		Ejections:           n.ejections.Load(),
		Latency:             time.Duration(math.Float64frombits(n.latencyBits.Load())),
	}
}
