package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// within reports whether got is within the histogram's 0.1 % precision of want.
func within(got, want time.Duration) bool {
	diff := got - want
	if diff < 0 {
		diff = -diff
	}
	return float64(diff) <= float64(want)*0.001+1
}

// TestRecorderPercentiles feeds the recorder a known distribution: 1..10000 µs, each once.
func TestRecorderPercentiles(t *testing.T) {
	rec := newRecorder(4, func(error) string { return "X" })
	for i := 1; i <= 10000; i++ {
		rec.record(i%4, time.Duration(i)*time.Microsecond, nil)
	}
	rec.record(0, time.Second, errors.New("failed")) // failures stay out of the latencies
	res := rec.result(time.Second)
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{50, 5000 * time.Microsecond},
		{75, 7500 * time.Microsecond},
		{90, 9000 * time.Microsecond},
		{95, 9500 * time.Microsecond},
		{99, 9900 * time.Microsecond},
		{99.9, 9990 * time.Microsecond},
		{100, 10000 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("p%g", tt.q), func(t *testing.T) {
			if got := res.Percentile(tt.q); !within(got, tt.want) {
				t.Fatalf("p%g = %v, want %v ±0.1%%", tt.q, got, tt.want)
			}
		})
	}
	if res.Min != time.Microsecond || res.Max != 10*time.Millisecond {
		t.Fatalf("min, max = %v, %v; want 1µs, 10ms", res.Min, res.Max)
	}
	if want := 5000500 * time.Nanosecond; res.Mean() != want {
		t.Fatalf("mean = %v, want %v (exact)", res.Mean(), want)
	}
	if res.Success != 10000 || res.Failure != 1 || res.Failures["X"] != 1 {
		t.Fatalf("counts = %d ok, %d failed %v", res.Success, res.Failure, res.Failures)
	}
	if res.QPS() != 10000 {
		t.Fatalf("QPS = %v, want 10000", res.QPS())
	}
}

// TestPercentilesWithinExtremes: the histogram answers with the top of a bucket (99 ms
// lands in a bucket reaching 99.025 ms), but no percentile is reported beyond the exact
// maximum or below the exact minimum.
func TestPercentilesWithinExtremes(t *testing.T) {
	rec := newRecorder(1, nil)
	for i := 1; i <= 99; i++ {
		rec.record(0, time.Duration(i)*time.Millisecond+time.Duration(i)*time.Nanosecond, nil)
	}
	res := rec.result(time.Second)
	if got := time.Duration(res.Histogram.ValueAtQuantile(100)); got <= res.Max {
		t.Fatalf("histogram p100 %v is not beyond max %v: the test no longer covers the clamp", got, res.Max)
	}
	for _, q := range []float64{0.001, 50, 99, 99.9, 100} {
		if got := res.Percentile(q); got < res.Min || got > res.Max {
			t.Fatalf("p%g = %v outside [%v, %v]", q, got, res.Min, res.Max)
		}
	}
	if res.Percentile(100) != res.Max {
		t.Fatalf("p100 = %v, want max %v", res.Percentile(100), res.Max)
	}
}

// TestRecorderClampsOutliers: a latency beyond the histogram's range is kept, as its max.
func TestRecorderClampsOutliers(t *testing.T) {
	rec := newRecorder(1, nil)
	rec.record(0, 2*time.Hour, nil)
	rec.record(0, -time.Second, nil)
	res := rec.result(time.Hour)
	if res.Max != 2*time.Hour || res.Success != 2 {
		t.Fatalf("max %v, success %d", res.Max, res.Success)
	}
	if got := res.Percentile(100); !within(got, time.Hour) {
		t.Fatalf("p100 = %v, want the histogram's upper bound", got)
	}
}

// TestClosedLoopKnownLatencies drives the engine with an Op whose latency is known exactly
// (request seq takes seq+1 ms of virtual time): one worker, 1000 requests.
func TestClosedLoopKnownLatencies(t *testing.T) {
	clk := NewVirtualClock(epoch)
	op := func(_ context.Context, _ int, seq int64) error {
		clk.Advance(time.Duration(seq+1) * time.Millisecond)
		return nil
	}
	res, err := Run(context.Background(), Options{Requests: 1000, Clock: clk}, op)
	if err != nil {
		t.Fatal(err)
	}
	if res.Success != 1000 || res.Failure != 0 {
		t.Fatalf("counts = %d ok, %d failed", res.Success, res.Failure)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{50, 500 * time.Millisecond}, {90, 900 * time.Millisecond}, {99, 990 * time.Millisecond}, {99.9, 999 * time.Millisecond}} {
		if got := res.Percentile(tt.q); !within(got, tt.want) {
			t.Errorf("p%g = %v, want %v", tt.q, got, tt.want)
		}
	}
	if want := 500500 * time.Millisecond; res.Wall != want || res.Sum != want {
		t.Fatalf("wall %v, sum %v; want both %v", res.Wall, res.Sum, want)
	}
	if res.Min != time.Millisecond || res.Max != time.Second || res.Mean() != 500500*time.Microsecond {
		t.Fatalf("min %v max %v mean %v", res.Min, res.Max, res.Mean())
	}
}

// TestClosedLoopCounts: every worker sends its requests, and the sequence numbers cover
// 0..c*r-1 exactly once.
func TestClosedLoopCounts(t *testing.T) {
	const c, r = 8, 50
	var mu sync.Mutex
	seen := map[int64]int{}
	perWorker := make([]atomic.Int64, c)
	op := func(_ context.Context, w int, seq int64) error {
		perWorker[w].Add(1)
		mu.Lock()
		seen[seq]++
		mu.Unlock()
		if seq%10 == 0 {
			return errors.New("every tenth fails")
		}
		return nil
	}
	res, err := Run(context.Background(), Options{Concurrency: c, Requests: r, Classify: func(error) string { return "TENTH" }}, op)
	if err != nil {
		t.Fatal(err)
	}
	if res.Success != 360 || res.Failure != 40 || res.Failures["TENTH"] != 40 {
		t.Fatalf("counts = %d ok, %d failed %v", res.Success, res.Failure, res.Failures)
	}
	for seq := int64(0); seq < c*r; seq++ {
		if seen[seq] != 1 {
			t.Fatalf("seq %d sent %d times", seq, seen[seq])
		}
	}
	for w := range perWorker {
		if n := perWorker[w].Load(); n != r {
			t.Fatalf("worker %d sent %d requests, want %d", w, n, r)
		}
	}
}

// TestClosedLoopDuration: with a 10 ms op and a 1 s run, one worker sends exactly 100.
func TestClosedLoopDuration(t *testing.T) {
	clk := NewVirtualClock(epoch)
	var n atomic.Int64
	op := func(context.Context, int, int64) error {
		n.Add(1)
		clk.Advance(10 * time.Millisecond)
		return nil
	}
	res, err := Run(context.Background(), Options{Duration: time.Second, Requests: 5, Clock: clk}, op)
	if err != nil {
		t.Fatal(err)
	}
	if res.Success != 100 || n.Load() != 100 || res.Wall != time.Second {
		t.Fatalf("success %d, sent %d, wall %v; want 100, 100, 1s", res.Success, n.Load(), res.Wall)
	}
}

// TestWarmupIsDiscarded: warmup requests run but are not in the result.
func TestWarmupIsDiscarded(t *testing.T) {
	clk := NewVirtualClock(epoch)
	var n atomic.Int64
	op := func(context.Context, int, int64) error {
		n.Add(1)
		clk.Advance(10 * time.Millisecond)
		return nil
	}
	res, err := Run(context.Background(), Options{Requests: 7, Warmup: 500 * time.Millisecond, Clock: clk}, op)
	if err != nil {
		t.Fatal(err)
	}
	if res.Success != 7 || n.Load() != 57 {
		t.Fatalf("measured %d, sent %d; want 7 measured after 50 warmup requests", res.Success, n.Load())
	}
}

func TestIntendedSchedule(t *testing.T) {
	tests := []struct {
		rate float64
		i    int64
		want time.Duration
	}{
		{1000, 0, 0},
		{1000, 1, time.Millisecond},
		{1000, 999, 999 * time.Millisecond},
		{3, 1, 333333333},
		{3, 3, time.Second},
		{0.5, 1, 2 * time.Second},
		{40000, 40000, time.Second},
		{40000, 1 << 32, (1 << 32) * 25 * time.Microsecond},
	}
	for _, tt := range tests {
		if got := intendedOffset(tt.i, tt.rate); got != tt.want {
			t.Errorf("intendedOffset(%d, %g) = %v, want %v", tt.i, tt.rate, got, tt.want)
		}
	}
}

// TestOpenLoopSchedule: an open loop of rate N for D sends exactly N×D requests, each
// dispatched at (never before) its intended time, and a count-bounded one sends c×r.
func TestOpenLoopSchedule(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		wantSent int64
	}{
		{"duration bound", Options{Rate: 250, Duration: 2 * time.Second, Concurrency: 1}, 500},
		{"count bound", Options{Rate: 1000, Concurrency: 4, Requests: 30}, 120},
		{"fractional rate", Options{Rate: 2.5, Duration: 10 * time.Second}, 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := NewVirtualClock(epoch)
			var mu sync.Mutex
			late := 0
			seen := map[int64]bool{}
			op := func(_ context.Context, _ int, seq int64) error {
				now := clk.Now()
				mu.Lock()
				defer mu.Unlock()
				if now.Before(epoch.Add(intendedOffset(seq, tt.opts.Rate))) {
					late-- // sent early: a pacing bug
				}
				seen[seq] = true
				return nil
			}
			tt.opts.Clock = clk
			res, err := Run(context.Background(), tt.opts, op)
			if err != nil {
				t.Fatal(err)
			}
			if res.Success != tt.wantSent || int64(len(seen)) != tt.wantSent {
				t.Fatalf("sent %d (%d distinct), want %d", res.Success, len(seen), tt.wantSent)
			}
			if late != 0 {
				t.Fatalf("%d requests were sent before their intended time", -late)
			}
		})
	}
}

// TestOpenLoopNoCoordinatedOmission: with one worker at 1000 req/s, request 0 stalls until
// request 19's intended time. Requests 1..19 queue behind it; measured from their intended
// times, each took at least (19-i) ms, which a closed-loop measurement would hide. The
// asserts are lower bounds, so a loaded machine cannot break them.
func TestOpenLoopNoCoordinatedOmission(t *testing.T) {
	var start time.Time
	var once sync.Once
	clk := RealClock{}
	op := func(ctx context.Context, _ int, seq int64) error {
		once.Do(func() { start = clk.Now() })
		if seq == 0 {
			return clk.SleepUntil(ctx, start.Add(19*time.Millisecond))
		}
		return nil
	}
	res, err := Run(context.Background(), Options{Rate: 1000, Requests: 20, Clock: clk}, op)
	if err != nil {
		t.Fatal(err)
	}
	if res.Success != 20 {
		t.Fatalf("success = %d, want 20", res.Success)
	}
	// Σ_{i=0}^{19} (19-i) ms = 190 ms at least.
	if res.Sum < 190*time.Millisecond {
		t.Fatalf("sum of latencies %v < 190ms: queueing behind the stalled request was not measured", res.Sum)
	}
	if res.Percentile(50) < 9*time.Millisecond {
		t.Fatalf("p50 = %v, want ≥ 9ms", res.Percentile(50))
	}
}

// TestCancelStopsEarly: canceling the context ends a long run; interrupted requests are not
// counted as failures.
func TestCancelStopsEarly(t *testing.T) {
	for _, rate := range []float64{0, 1e6} {
		t.Run(fmt.Sprintf("rate=%g", rate), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var n atomic.Int64
			op := func(ctx context.Context, _ int, _ int64) error {
				if n.Add(1) == 100 {
					cancel()
				}
				return ctx.Err()
			}
			res, err := Run(ctx, Options{Concurrency: 4, Duration: time.Hour, Rate: rate}, op)
			if err != nil {
				t.Fatal(err)
			}
			if res.Failure != 0 {
				t.Fatalf("%d interrupted requests counted as failures", res.Failure)
			}
			if res.Success < 99 || res.Success > n.Load() {
				t.Fatalf("success = %d of %d sent", res.Success, n.Load())
			}
		})
	}
}

func TestProgress(t *testing.T) {
	var calls []int64
	res, err := Run(context.Background(), Options{
		Concurrency: 3, Requests: 10,
		Progress: func(done int64) { calls = append(calls, done) }, // never concurrent
	}, func(context.Context, int, int64) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) == 0 || calls[len(calls)-1] != 30 || res.Success != 30 {
		t.Fatalf("progress calls %v, success %d; want a last call with 30", calls, res.Success)
	}
}

func TestBadOptions(t *testing.T) {
	nop := func(context.Context, int, int64) error { return nil }
	tests := []struct {
		name string
		opts Options
		op   Op
		want string
	}{
		{"negative concurrency", Options{Concurrency: -1}, nop, "concurrency -1 is negative"},
		{"negative requests", Options{Requests: -2}, nop, "requests -2 is negative"},
		{"negative duration", Options{Duration: -time.Second}, nop, "duration -1s is negative"},
		{"negative warmup", Options{Warmup: -time.Second}, nop, "warmup -1s is negative"},
		{"negative rate", Options{Rate: -1}, nop, "rate -1 must be a positive number"},
		{"nil op", Options{}, nil, "nil Op"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.opts, tt.op)
			if !errors.Is(err, ErrBadOptions) || !containsStr(err.Error(), tt.want) {
				t.Fatalf("Run error = %v, want ErrBadOptions with %q", err, tt.want)
			}
		})
	}
}
