package cli

import (
	"fmt"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/bench"
)

// ProgressWindow is the span over which the progress bar measures the request rate: the
// rate shown is that of the last ProgressWindow, not the average since the start, so it
// follows a server that slows down, and a run's first tick is not divided by almost zero.
const ProgressWindow = 2 * time.Second

// progressSamples bounds the samples the window keeps: one per bench.DefaultProgressInterval
// (200 ms) over ProgressWindow, and a spare.
const progressSamples = int(ProgressWindow/bench.DefaultProgressInterval) + 2

// progress is a benchmark's bar on stderr: towards the request count of a -r run, or towards
// the end of a -d run, with the count, the rate of the last ProgressWindow and the time left
// (from that rate for -r, from the clock for -d) in its description.
type progress struct {
	bar      *progressbar.ProgressBar
	clock    bench.Clock
	label    string
	total    int64         // requests of a -r run; 0 for -d
	duration time.Duration // length of a -d run
	start    time.Time     // of the measured run: the first update
	desc     string        // the last description
	samples  [progressSamples]sample
	n, next  int // samples held, index of the next one to write
}

type sample struct {
	at   time.Time
	done int64
}

func newProgress(env Env, s settings, method string) *progress {
	p := &progress{clock: env.Clock, label: "benchmark " + method}
	max := int64(s.Concurrency) * s.Requests
	if s.Duration > 0 {
		p.duration = s.Duration
		max = s.Duration.Milliseconds()
	} else {
		p.total = max
	}
	p.bar = progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(env.Stderr),
		progressbar.OptionSetDescription(p.label),
		progressbar.OptionSetPredictTime(false), // ETA is ours, from the window
		progressbar.OptionSetElapsedTime(false),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetSpinnerChangeInterval(0), // no goroutine of its own: the engine drives it
		progressbar.OptionSetWidth(30),
	)
	return p
}

// update is the engine's Progress callback: done measured requests have finished.
func (p *progress) update(done int64) {
	now := p.clock.Now()
	if p.n == 0 {
		p.start = now
	}
	p.samples[p.next] = sample{now, done}
	p.next = (p.next + 1) % len(p.samples)
	p.n = min(p.n+1, len(p.samples))
	// The oldest sample still inside the window (the newest is the one just written).
	oldest := sample{now, done}
	for i := 1; i < p.n; i++ {
		s := p.samples[(p.next-1-i+2*len(p.samples))%len(p.samples)]
		if now.Sub(s.at) > ProgressWindow {
			break
		}
		oldest = s
	}
	rate := -1.0 // unknown yet
	if span := now.Sub(oldest.at); span >= bench.DefaultProgressInterval/2 {
		rate = float64(done-oldest.done) / span.Seconds()
	}

	desc := p.label
	if p.total > 0 {
		desc += fmt.Sprintf("  %d/%d req", done, p.total)
	} else {
		desc += fmt.Sprintf("  %d req", done)
	}
	if rate >= 0 {
		desc += fmt.Sprintf("  %.0f req/s", rate)
	}
	switch left := p.left(now, done, rate); {
	case left >= 0:
		desc += "  ETA " + left.Round(time.Second).String()
	default:
		desc += "  ETA -"
	}
	p.desc = desc
	p.bar.Describe(desc)
	if p.total > 0 {
		_ = p.bar.Set64(done)
	} else {
		_ = p.bar.Set64(min(now.Sub(p.start).Milliseconds(), p.duration.Milliseconds()))
	}
}

// left is the time to the end of the run, negative when not known.
func (p *progress) left(now time.Time, done int64, rate float64) time.Duration {
	if p.total == 0 {
		return max(p.start.Add(p.duration).Sub(now), 0)
	}
	if done >= p.total {
		return 0
	}
	if rate <= 0 {
		return -1
	}
	return time.Duration(float64(p.total-done) / rate * float64(time.Second))
}

// finish ends the bar: filled when the run completed, left where it stopped otherwise.
func (p *progress) finish(completed bool) {
	if completed {
		_ = p.bar.Finish()
	} else {
		_ = p.bar.Exit()
	}
}
