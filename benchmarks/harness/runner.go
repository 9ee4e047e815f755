package harness

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// StopTimeout is how long Run waits for the workers' in-flight calls once the measured
// window is over before it closes the workers to unblock them (10 s).
const StopTimeout = 10 * time.Second

// ErrBadLoad is returned (wrapped) by Run for a Load it cannot run.
var ErrBadLoad = errors.New("harness: bad load")

// Call performs one operation of a worker and reports whether it failed. A worker's Call
// is only ever called from one goroutine.
type Call func() error

// Worker is one closed-loop worker: Call is repeated back to back; Close, when set, runs
// once after the run (it should release the worker's stream or buffers).
type Worker struct {
	Call  Call
	Close func() error
}

// Phase names a boundary of the measured window.
type Phase int

const (
	// PhaseStart is reported when the warm-up is over and measuring begins.
	PhaseStart Phase = iota + 1
	// PhaseEnd is reported when the measured window closes.
	PhaseEnd
)

// String returns "start" or "end".
func (p Phase) String() string {
	switch p {
	case PhaseStart:
		return "start"
	case PhaseEnd:
		return "end"
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// Load describes a closed-loop run: Concurrency workers call back to back for Warmup
// (not measured), then for Duration (measured).
type Load struct {
	// Concurrency is the number of workers; it must be at least 1.
	Concurrency int
	// Warmup is run before measuring; zero skips it.
	Warmup time.Duration
	// Duration is the measured window; it must be positive.
	Duration time.Duration
	// NewWorker prepares worker i (0 <= i < Concurrency) before any clock starts.
	NewWorker func(i int) (Worker, error)
	// OnPhase, when set, is called right after the window starts and right after it ends,
	// from the goroutine that called Run (rpcbench asks the server process for its usage
	// snapshot there). An error aborts the run.
	OnPhase func(Phase) error
}

// Measurement is the outcome of Run.
type Measurement struct {
	// Calls is the number of calls that started and completed inside the window.
	Calls int64
	// Window is the measured wall time.
	Window time.Duration
	// Latency summarizes the latencies of those calls.
	Latency Summary
	// Usage is what this process consumed during the window.
	Usage Delta
}

// CallsPerSecond is Calls over Window.
func (m Measurement) CallsPerSecond() float64 {
	if m.Window <= 0 {
		return 0
	}
	return float64(m.Calls) / m.Window.Seconds()
}

const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

// Run drives the load and returns what was measured. The first failed call stops the run
// and is returned.
func Run(load Load) (Measurement, error) {
	if load.Concurrency < 1 {
		return Measurement{}, fmt.Errorf("%w: concurrency %d is below 1", ErrBadLoad, load.Concurrency)
	}
	if load.Duration <= 0 {
		return Measurement{}, fmt.Errorf("%w: duration %v is not positive", ErrBadLoad, load.Duration)
	}
	if load.NewWorker == nil {
		return Measurement{}, fmt.Errorf("%w: no NewWorker", ErrBadLoad)
	}
	workers := make([]Worker, 0, load.Concurrency)
	closeAll := func() error {
		var errs []error
		for _, w := range workers {
			if w.Close != nil {
				errs = append(errs, w.Close())
			}
		}
		workers = workers[:0]
		return errors.Join(errs...)
	}
	for i := 0; i < load.Concurrency; i++ {
		w, err := load.NewWorker(i)
		if err != nil {
			return Measurement{}, errors.Join(fmt.Errorf("harness: worker %d: %w", i, err), closeAll())
		}
		workers = append(workers, w)
	}

	var (
		phase    atomic.Int32
		failOnce sync.Once
		failErr  error
		failed   = make(chan struct{})
		wg       sync.WaitGroup
		hists    = make([]*Histogram, len(workers))
		counts   = make([]int64, len(workers))
	)
	fail := func(err error) {
		failOnce.Do(func() {
			failErr = err
			phase.Store(phaseStop)
			close(failed)
		})
	}
	for i, w := range workers {
		hists[i] = NewHistogram()
		wg.Add(1)
		go func(i int, call Call, h *Histogram) {
			defer wg.Done()
			var n int64
			for {
				p := phase.Load()
				if p == phaseStop {
					break
				}
				t0 := time.Now()
				if err := call(); err != nil {
					if phase.Load() != phaseStop {
						fail(fmt.Errorf("harness: worker %d: %w", i, err))
					}
					break
				}
				d := time.Since(t0)
				if p == phaseMeasure && phase.Load() == phaseMeasure {
					h.Record(d)
					n++
				}
			}
			counts[i] = n
		}(i, w.Call, hists[i])
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	m, err := measure(load, &phase, failed)
	if err != nil {
		fail(err)
	}
	phase.Store(phaseStop)
	select {
	case <-done:
	case <-time.After(StopTimeout):
		// Closing the workers' streams unblocks calls stuck on a dead peer.
		err = errors.Join(err, closeAll())
		<-done
	}
	err = errors.Join(err, closeAll())
	if failErr != nil {
		err = errors.Join(failErr, err)
	}
	if err != nil {
		return Measurement{}, err
	}
	total := NewHistogram()
	for i, h := range hists {
		total.Merge(h)
		m.Calls += counts[i]
	}
	m.Latency = total.Summary()
	return m, nil
}

// measure waits out the warm-up and the window, switching phases and taking snapshots.
func measure(load Load, phase *atomic.Int32, failed <-chan struct{}) (Measurement, error) {
	wait := func(d time.Duration) bool {
		if d <= 0 {
			return true
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-failed:
			return false
		}
	}
	if !wait(load.Warmup) {
		return Measurement{}, nil
	}
	before, err := Snapshot()
	if err != nil {
		return Measurement{}, err
	}
	phase.Store(phaseMeasure)
	start := time.Now()
	if load.OnPhase != nil {
		if err := load.OnPhase(PhaseStart); err != nil {
			return Measurement{}, fmt.Errorf("harness: phase start: %w", err)
		}
	}
	ok := wait(load.Duration - time.Since(start))
	phase.Store(phaseStop)
	window := time.Since(start)
	after, err := Snapshot()
	if err != nil {
		return Measurement{}, err
	}
	if !ok {
		return Measurement{}, nil
	}
	if load.OnPhase != nil {
		if err := load.OnPhase(PhaseEnd); err != nil {
			return Measurement{}, fmt.Errorf("harness: phase end: %w", err)
		}
	}
	return Measurement{Window: window, Usage: after.Sub(before)}, nil
}

// Fixed runs exactly n calls spread over a set of worker calls (closed loop, no warm-up):
// the body of the go test benchmarks. Its histograms are allocated by NewFixed and
// summarized by Summary, so a timed RunN costs only the calls and one Record per call.
type Fixed struct {
	calls []Call
	hists []*Histogram
	dirty bool
}

// NewFixed prepares a Fixed run over calls, one worker goroutine per call.
func NewFixed(calls []Call) *Fixed {
	f := &Fixed{calls: calls, hists: make([]*Histogram, len(calls))}
	for i := range f.hists {
		f.hists[i] = NewHistogram()
	}
	return f
}

// RunN performs exactly n calls; Summary then describes their latencies. The first failed
// call stops the run and is returned.
func (f *Fixed) RunN(n int) error {
	if len(f.calls) == 0 {
		return fmt.Errorf("%w: no workers", ErrBadLoad)
	}
	if f.dirty {
		for _, h := range f.hists {
			h.h.Reset()
		}
	}
	f.dirty = true
	var (
		next   atomic.Int64
		stop   atomic.Bool
		wg     sync.WaitGroup
		errMu  sync.Mutex
		runErr error
	)
	for i, call := range f.calls {
		h := f.hists[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && next.Add(1) <= int64(n) {
				t0 := time.Now()
				if err := call(); err != nil {
					errMu.Lock()
					if runErr == nil {
						runErr = err
					}
					errMu.Unlock()
					stop.Store(true)
					return
				}
				h.Record(time.Since(t0))
			}
		}()
	}
	wg.Wait()
	return runErr
}

// Summary merges the latencies of the last RunN.
func (f *Fixed) Summary() Summary {
	total := NewHistogram()
	for _, h := range f.hists {
		total.Merge(h)
	}
	return total.Summary()
}
