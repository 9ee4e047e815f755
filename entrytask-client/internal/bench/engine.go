// Package bench is etclient's load generator: a closed-loop or open-loop engine that runs an
// Op from many workers, records latencies in an HDR histogram and failures by class, and the
// etserver workload (read or write, one shared user or many) that plugs into it.
//
// Closed loop: Concurrency workers each send Requests requests back to back (or until
// Duration ends); latency is the time from send to reply. Open loop (Rate > 0): a dispatcher
// issues Rate requests per second on a fixed schedule to a pool of Concurrency workers, and
// latency is measured from each request's intended send time, so a slow server cannot hide
// its queueing delay by slowing the sender down (no coordinated omission).
package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	// DefaultConcurrency is the number of workers when Options.Concurrency is 0.
	DefaultConcurrency = 1
	// DefaultRequests is the per-worker request count when Options.Requests is 0 and no
	// Duration is set.
	DefaultRequests = 1
	// DefaultProgressInterval is how often Options.Progress is called when its interval is 0.
	DefaultProgressInterval = 200 * time.Millisecond
	// DefaultClass is the failure class when Options.Classify is nil.
	DefaultClass = "ERROR"
	// DefaultMaxUnreachable is how many failed attempts in a row to reach the server end a
	// run when Options.MaxUnreachable is 0. With the back-off below the eighth comes about
	// 2.6 s after the first: a server that stays away that long ends the run, one that
	// restarts within about two seconds does not.
	DefaultMaxUnreachable = 8
	// DefaultBackoffMin is the pause after the first failed attempt to reach the server
	// when Options.BackoffMin is 0; each further failure in a row doubles it.
	DefaultBackoffMin = 25 * time.Millisecond
	// DefaultBackoffMax bounds the pause between attempts to reach the server when
	// Options.BackoffMax is 0.
	DefaultBackoffMax = time.Second
	// DefaultUnreachableReport is the least time between two calls of
	// Options.OnUnreachable while the server stays unreachable.
	DefaultUnreachableReport = time.Second
)

// ErrUnreachable is wrapped by Result.Stopped when a run ended early because the server
// could not be reached Options.MaxUnreachable times in a row.
var ErrUnreachable = errors.New("bench: server unreachable")

// ErrBadOptions is wrapped by Run's errors about its options.
var ErrBadOptions = errors.New("bench: bad options")

// Op performs one request. worker is the index (0..Concurrency-1) of the worker running it,
// seq the request's sequence number in the run, unique and counting from 0. A non-nil error
// counts the request as failed. Op must be safe for concurrent use.
type Op func(ctx context.Context, worker int, seq int64) error

// Options configure Run. The zero value of each field means its default.
type Options struct {
	// Concurrency is the number of workers: parallel senders in the closed loop, the largest
	// number of requests in flight in the open loop. Default DefaultConcurrency.
	Concurrency int
	// Requests is the number of requests per worker; the run sends Concurrency×Requests
	// requests in both loops. Ignored when Duration is set. Default DefaultRequests.
	Requests int64
	// Duration, when positive, runs for this long instead of a request count: no request is
	// started (closed loop) or scheduled (open loop) at or after start+Duration; requests in
	// flight then are waited for and counted.
	Duration time.Duration
	// Rate, when positive, selects the open loop with this many requests per second.
	// Default 0: closed loop.
	Rate float64
	// Warmup, when positive, first runs the same loop for this long and discards what it
	// measured. Default 0: no warmup.
	Warmup time.Duration
	// Classify names the class of a failed request for Result.Failures (etclient uses the
	// status code). Default: every failure is DefaultClass.
	Classify func(error) string
	// Clock is the time source. Default RealClock.
	Clock Clock
	// Progress, when set, is called with the number of finished measured requests as the
	// measured run starts (with 0), every ProgressInterval during it and once at its end,
	// from a goroutine of the engine (never concurrently with itself).
	Progress func(done int64)
	// ProgressInterval is the period of Progress. Default DefaultProgressInterval.
	ProgressInterval time.Duration

	// Unreachable reports whether a failed request's error means the server could not be
	// reached (etclient: status UNAVAILABLE). Such a failure opens a back-off shared by all
	// workers: no request starts until it has passed, so a dead server is probed a few
	// times a second instead of as fast as connections are refused. The pause starts at
	// BackoffMin and doubles with each further probe that fails, up to BackoffMax; a
	// success closes it. Requests already in flight when the first failure came back belong
	// to the same outage and do not count as probes. Default nil: no back-off, every
	// failure is only counted.
	Unreachable func(error) bool
	// MaxUnreachable ends the run (Result.Stopped wraps ErrUnreachable) after this many
	// probes in a row failed to reach the server. Default DefaultMaxUnreachable; negative:
	// never end early, back off only.
	MaxUnreachable int
	// BackoffMin and BackoffMax bound the back-off; defaults DefaultBackoffMin and
	// DefaultBackoffMax.
	BackoffMin, BackoffMax time.Duration
	// OnUnreachable, when set, is told about an outage: at its first failure and then at
	// most once per DefaultUnreachableReport while it lasts, with the number of probes that
	// failed in a row so far and the last error. It is called from a worker, never
	// concurrently with itself.
	OnUnreachable func(failed int, err error)
}

func (o Options) withDefaults() (Options, error) {
	switch {
	case o.Concurrency < 0:
		return o, fmt.Errorf("%w: concurrency %d is negative", ErrBadOptions, o.Concurrency)
	case o.Requests < 0:
		return o, fmt.Errorf("%w: requests %d is negative", ErrBadOptions, o.Requests)
	case o.Duration < 0:
		return o, fmt.Errorf("%w: duration %v is negative", ErrBadOptions, o.Duration)
	case o.Warmup < 0:
		return o, fmt.Errorf("%w: warmup %v is negative", ErrBadOptions, o.Warmup)
	case o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0):
		return o, fmt.Errorf("%w: rate %v must be a positive number of requests per second", ErrBadOptions, o.Rate)
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Requests == 0 {
		o.Requests = DefaultRequests
	}
	if o.Classify == nil {
		o.Classify = func(error) string { return DefaultClass }
	}
	if o.Clock == nil {
		o.Clock = RealClock{}
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = DefaultProgressInterval
	}
	if o.MaxUnreachable == 0 {
		o.MaxUnreachable = DefaultMaxUnreachable
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = DefaultBackoffMin
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	o.BackoffMax = max(o.BackoffMax, o.BackoffMin)
	return o, nil
}

// Run runs op as opts say and returns what it measured. It returns early, with what was
// measured so far, when ctx ends (requests that fail because ctx ended are not counted) or
// when the server stays unreachable (Options.MaxUnreachable; Result.Stopped says so).
// Run returns an error only for bad options; every goroutine it starts has ended when it
// returns.
func Run(ctx context.Context, opts Options, op Op) (*Result, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if op == nil {
		return nil, fmt.Errorf("%w: nil Op", ErrBadOptions)
	}
	if o.Warmup > 0 {
		w := o
		w.Duration, w.Progress = o.Warmup, nil
		run(ctx, w, op)
	}
	return run(ctx, o, op), nil
}

// run is one measured (or warmup) loop.
func run(parent context.Context, o Options, op Op) *Result {
	rec := newRecorder(o.Concurrency, o.Classify)
	var done atomic.Int64
	stopProgress := startProgress(o, &done)

	// ctx ends the loop early when the server stays unreachable; requests it interrupts
	// are dropped like those of an interrupted run.
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var b *breaker
	if o.Unreachable != nil {
		b = &breaker{o: o, cancel: cancel}
	}

	start := o.Clock.Now()
	var deadline time.Time
	if o.Duration > 0 {
		deadline = start.Add(o.Duration)
	}
	if o.Rate > 0 {
		openLoop(ctx, o, op, b, rec, &done, start, deadline)
	} else {
		closedLoop(ctx, o, op, b, rec, &done, deadline)
	}
	rec.stopped = b.stopped()
	res := rec.result(o.Clock.Now().Sub(start))
	stopProgress()
	return res
}

// breaker is the back-off of a run against a server that cannot be reached.
type breaker struct {
	o      Options
	cancel context.CancelFunc

	// down is set while probes are failing: requests check it without the lock.
	down atomic.Bool
	gen  atomic.Uint64 // bumped (under mu) by each probe that fails

	mu       sync.Mutex
	failed   int       // probes that failed in a row; a success resets it
	until    time.Time // no request starts before this
	reported time.Time // last OnUnreachable call
	stop     error     // set when the run was ended
}

// wait returns when no back-off is pending (at once for a nil breaker), with the back-off
// generation the request starts in, or with ctx's error.
func (b *breaker) wait(ctx context.Context) (gen uint64, err error) {
	for {
		if b == nil || !b.down.Load() {
			return b.generation(), nil
		}
		// Another probe may fail while this worker sleeps, and push the back-off further:
		// look again after each sleep.
		b.mu.Lock()
		until, gen := b.until, b.gen.Load()
		b.mu.Unlock()
		if !b.o.Clock.Now().Before(until) {
			return gen, nil
		}
		if err := b.o.Clock.SleepUntil(ctx, until); err != nil {
			return 0, err
		}
	}
}

func (b *breaker) generation() uint64 {
	if b == nil {
		return 0
	}
	return b.gen.Load()
}

// outcome accounts for the result of a request started at generation gen.
func (b *breaker) outcome(gen uint64, err error) {
	if b == nil {
		return
	}
	if err == nil {
		if b.down.Load() {
			b.mu.Lock()
			b.failed, b.until = 0, time.Time{}
			b.down.Store(false)
			b.mu.Unlock()
		}
		return
	}
	if b.o.Unreachable(err) {
		b.failure(gen, err)
	}
}

// failure accounts for a request started at back-off generation gen that could not reach
// the server.
func (b *breaker) failure(gen uint64, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if gen != b.gen.Load() && b.failed > 0 {
		return // started before the last probe failed: the same outage, not a new probe
	}
	b.gen.Add(1)
	b.failed++
	b.down.Store(true)
	now := b.o.Clock.Now()
	pause := b.o.BackoffMin << min(b.failed-1, 30)
	if pause <= 0 || pause > b.o.BackoffMax {
		pause = b.o.BackoffMax
	}
	b.until = now.Add(pause)
	if b.o.MaxUnreachable > 0 && b.failed >= b.o.MaxUnreachable && b.stop == nil {
		b.stop = fmt.Errorf("%w: %d attempts in a row failed, the last: %w", ErrUnreachable, b.failed, err)
		b.cancel()
	}
	if b.o.OnUnreachable != nil && (b.failed == 1 || now.Sub(b.reported) >= DefaultUnreachableReport) {
		b.reported = now
		b.o.OnUnreachable(b.failed, err)
	}
}

func (b *breaker) stopped() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stop
}

// closedLoop runs Concurrency workers, each sending its requests back to back.
func closedLoop(ctx context.Context, o Options, op Op, b *breaker, rec *recorder, done *atomic.Int64, deadline time.Time) {
	counted := deadline.IsZero() // else timed
	var wg sync.WaitGroup
	for w := range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := int64(0); !counted || j < o.Requests; j++ {
				if ctx.Err() != nil {
					return
				}
				gen, err := b.wait(ctx)
				if err != nil {
					return
				}
				t0 := o.Clock.Now()
				if !counted && !t0.Before(deadline) {
					return
				}
				err = op(ctx, w, j*int64(o.Concurrency)+int64(w))
				t1 := o.Clock.Now()
				if err != nil && ctx.Err() != nil {
					return // interrupted, not a server failure
				}
				b.outcome(gen, err)
				rec.record(w, t1.Sub(t0), err)
				done.Add(1)
			}
		}()
	}
	wg.Wait()
}

// job is one scheduled request of the open loop.
type job struct {
	seq      int64
	intended time.Time
}

// intendedOffset is the send time of request i of an open loop at rate requests per second,
// relative to the loop's start.
func intendedOffset(i int64, rate float64) time.Duration {
	return time.Duration(math.Round(float64(i) * float64(time.Second) / rate))
}

// openLoop schedules requests at the fixed rate and hands them to Concurrency workers;
// latency runs from the intended send time to the reply.
// A back-off delays the requests given to workers; their latency, measured from the
// intended time, includes it.
func openLoop(ctx context.Context, o Options, op Op, b *breaker, rec *recorder, done *atomic.Int64, start, deadline time.Time) {
	jobs := make(chan job)
	var wg sync.WaitGroup
	for w := range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				gen, err := b.wait(ctx)
				if err == nil {
					err = op(ctx, w, j.seq)
				}
				t1 := o.Clock.Now()
				if err != nil && ctx.Err() != nil {
					continue // interrupted, not a server failure
				}
				b.outcome(gen, err)
				rec.record(w, t1.Sub(j.intended), err)
				done.Add(1)
			}
		}()
	}
	total := int64(o.Concurrency) * o.Requests
	for i := int64(0); ; i++ {
		if deadline.IsZero() && i >= total {
			break
		}
		at := start.Add(intendedOffset(i, o.Rate))
		if !deadline.IsZero() && !at.Before(deadline) {
			break
		}
		if o.Clock.SleepUntil(ctx, at) != nil {
			break
		}
		select {
		case jobs <- job{seq: i, intended: at}:
			continue
		case <-ctx.Done():
		}
		break
	}
	close(jobs)
	wg.Wait()
}

// startProgress calls o.Progress at once and then periodically until the returned stop function is called;
// stop makes a final call and waits for the goroutine to end.
func startProgress(o Options, done *atomic.Int64) (stop func()) {
	if o.Progress == nil {
		return func() {}
	}
	quit := make(chan struct{})
	ended := make(chan struct{})
	o.Progress(0)
	go func() {
		defer close(ended)
		t := time.NewTicker(o.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				o.Progress(done.Load())
			case <-quit:
				o.Progress(done.Load())
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-ended
	}
}
