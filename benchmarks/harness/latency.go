package harness

import (
	"fmt"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range and precision. Latencies are recorded in nanoseconds.
const (
	// MinLatency is the lowest latency a histogram distinguishes (1 ns).
	MinLatency = time.Nanosecond
	// MaxLatency is the highest latency recorded; longer calls are clamped to it (60 s).
	MaxLatency = time.Minute
	// SignificantFigures is the HDR histogram precision (3 digits: 0.1 % error).
	SignificantFigures = 3
)

// Histogram records call latencies of one worker. It is not safe for concurrent use: give
// every worker its own and Merge them when the run is over.
type Histogram struct {
	h *hdrhistogram.Histogram
}

// NewHistogram returns an empty Histogram covering MinLatency..MaxLatency.
func NewHistogram() *Histogram {
	return &Histogram{h: hdrhistogram.New(int64(MinLatency), int64(MaxLatency), SignificantFigures)}
}

// Record adds one latency; values outside the range are clamped to it.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < int64(MinLatency) {
		v = int64(MinLatency)
	}
	if v > int64(MaxLatency) {
		v = int64(MaxLatency)
	}
	// The value is clamped into the histogram's range, so RecordValue cannot fail.
	_ = h.h.RecordValue(v)
}

// Merge adds every value of o into h.
func (h *Histogram) Merge(o *Histogram) {
	h.h.Merge(o.h)
}

// Count returns how many latencies were recorded.
func (h *Histogram) Count() int64 { return h.h.TotalCount() }

// Summary returns the percentiles of the recorded latencies; all zero when none were.
func (h *Histogram) Summary() Summary {
	if h.h.TotalCount() == 0 {
		return Summary{}
	}
	return Summary{
		Count: h.h.TotalCount(),
		Mean:  time.Duration(h.h.Mean()),
		P50:   time.Duration(h.h.ValueAtQuantile(50)),
		P99:   time.Duration(h.h.ValueAtQuantile(99)),
		P999:  time.Duration(h.h.ValueAtQuantile(99.9)),
		Max:   time.Duration(h.h.Max()),
	}
}

// Summary is the latency distribution of a run.
type Summary struct {
	Count int64
	Mean  time.Duration
	P50   time.Duration
	P99   time.Duration
	P999  time.Duration
	Max   time.Duration
}

// String formats the summary as "p50=… p99=… p99.9=…".
func (s Summary) String() string {
	return fmt.Sprintf("p50=%v p99=%v p99.9=%v", s.P50, s.P99, s.P999)
}
