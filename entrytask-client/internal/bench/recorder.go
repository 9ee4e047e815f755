package bench

import (
	"runtime"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: latencies are recorded in nanoseconds, from HistogramMin to HistogramMax
// (a slower request is recorded as HistogramMax), with HistogramSigFigs significant decimal
// digits: any percentile is exact to within 0.1 %.
const (
	HistogramMin     = int64(1)
	HistogramMax     = int64(time.Hour)
	HistogramSigFigs = 3
)

// maxShards bounds the number of histograms a run keeps (each is about 260 KB).
const maxShards = 64

// recorder collects outcomes from many workers with little contention: worker w writes to
// shard w mod len(shards), each behind its own mutex.
type recorder struct {
	classify func(error) string
	shards   []shard
	stopped  error // why the run ended early, if it did
}

type shard struct {
	mu       sync.Mutex
	hist     *hdrhistogram.Histogram
	ok, fail int64
	min, max time.Duration
	sum      time.Duration
	failures map[string]int64
	_        [64]byte // keep neighbouring shards off one cache line
}

func newRecorder(workers int, classify func(error) string) *recorder {
	n := min(workers, 2*runtime.GOMAXPROCS(0), maxShards)
	n = max(n, 1)
	r := &recorder{classify: classify, shards: make([]shard, n)}
	for i := range r.shards {
		r.shards[i].hist = hdrhistogram.New(HistogramMin, HistogramMax, HistogramSigFigs)
		r.shards[i].failures = make(map[string]int64)
	}
	return r
}

// record counts one request of worker w that took d and ended with err. Only successful
// requests enter the latency histogram; failures are counted by class.
func (r *recorder) record(w int, d time.Duration, err error) {
	s := &r.shards[w%len(r.shards)]
	if err != nil {
		class := r.classify(err)
		s.mu.Lock()
		s.fail++
		s.failures[class]++
		s.mu.Unlock()
		return
	}
	v := min(max(int64(d), 0), HistogramMax)
	s.mu.Lock()
	_ = s.hist.RecordValue(v) // cannot fail: v is clamped into the histogram's range
	if s.ok == 0 || d < s.min {
		s.min = d
	}
	if d > s.max {
		s.max = d
	}
	s.sum += d
	s.ok++
	s.mu.Unlock()
}

// result merges the shards into a Result.
func (r *recorder) result(wall time.Duration) *Result {
	res := &Result{
		Wall:      wall,
		Failures:  make(map[string]int64),
		Histogram: hdrhistogram.New(HistogramMin, HistogramMax, HistogramSigFigs),
		Stopped:   r.stopped,
	}
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		res.Histogram.Merge(s.hist)
		if s.ok > 0 && (res.Success == 0 || s.min < res.Min) {
			res.Min = s.min
		}
		res.Max = max(res.Max, s.max)
		res.Sum += s.sum
		res.Success += s.ok
		res.Failure += s.fail
		for k, v := range s.failures {
			res.Failures[k] += v
		}
		s.mu.Unlock()
	}
	return res
}

// Result is what a run measured.
type Result struct {
	// Success and Failure count finished requests by outcome.
	Success, Failure int64
	// Failures counts failed requests by the class Options.Classify gave them.
	Failures map[string]int64
	// Wall is the measured run's wall time, from its first intended send to the end of its
	// last request.
	Wall time.Duration
	// Min, Max and Sum are the exact extremes and total of successful requests' latencies.
	Min, Max, Sum time.Duration
	// Histogram holds the successful requests' latencies in nanoseconds.
	Histogram *hdrhistogram.Histogram
	// Stopped is why the run ended before its count or duration (wrapping ErrUnreachable);
	// nil when it did not. An interrupted context is not recorded here.
	Stopped error
}

// Percentile returns the latency below which q percent (0 < q <= 100) of the successful
// requests fall, within the histogram's precision; 0 when there were none. The histogram
// answers with the top of a bucket, which may lie beyond the exact extremes, so the result
// is clamped into [Min, Max]: no percentile is ever reported above the maximum.
func (r *Result) Percentile(q float64) time.Duration {
	if r.Success == 0 {
		return 0
	}
	return min(max(time.Duration(r.Histogram.ValueAtQuantile(q)), r.Min), r.Max)
}

// Mean returns the exact mean latency of successful requests; 0 when there were none.
func (r *Result) Mean() time.Duration {
	if r.Success == 0 {
		return 0
	}
	return r.Sum / time.Duration(r.Success)
}

// QPS returns successful requests per second of wall time; 0 for an empty run.
func (r *Result) QPS() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return float64(r.Success) / r.Wall.Seconds()
}
