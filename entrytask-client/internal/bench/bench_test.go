package bench

import (
	"context"
	"testing"
	"time"
)

// BenchmarkClosedLoop measures the engine's own cost per request (clock reads, recording
// into the sharded HDR histogram) with an Op that does nothing.
// The "/backoff" variants set Options.Unreachable, as etclient does: the cost of the
// back-off's checks on requests that succeed.
func BenchmarkClosedLoop(b *testing.B) {
	for _, c := range []int{1, 16} {
		for _, backoff := range []bool{false, true} {
			name := map[int]string{1: "c=1", 16: "c=16"}[c]
			if backoff {
				name += "/backoff"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				op := func(context.Context, int, int64) error { return nil }
				per := max(int64(b.N)/int64(c), 1)
				opts := Options{Concurrency: c, Requests: per}
				if backoff {
					opts.Unreachable = func(error) bool { return true }
				}
				b.ResetTimer()
				if _, err := Run(context.Background(), opts, op); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// BenchmarkOpenLoop measures the open loop's dispatch cost per request at a rate far above
// what it can reach, so the dispatcher never sleeps.
func BenchmarkOpenLoop(b *testing.B) {
	b.ReportAllocs()
	op := func(context.Context, int, int64) error { return nil }
	per := max(int64(b.N)/4, 1)
	b.ResetTimer()
	if _, err := Run(context.Background(), Options{Concurrency: 4, Requests: per, Rate: 1e12}, op); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRecord measures recording one latency.
func BenchmarkRecord(b *testing.B) {
	b.ReportAllocs()
	rec := newRecorder(1, nil)
	for i := 0; b.Loop(); i++ {
		rec.record(0, 1234567, nil)
	}
}

// BenchmarkSleepUntil measures how late a sleep of 100 µs ends, as an open loop at
// 10,000 requests per second asks for, with a plain runtime timer and with RealClock; the
// lateness is reported as late-µs/op.
func BenchmarkSleepUntil(b *testing.B) {
	const d = 100 * time.Microsecond
	timer := func(ctx context.Context, t time.Time) error {
		tm := time.NewTimer(time.Until(t))
		defer tm.Stop()
		select {
		case <-tm.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, bc := range []struct {
		name  string
		sleep func(context.Context, time.Time) error
	}{
		{"timer", timer},
		{"RealClock", RealClock{}.SleepUntil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			var late time.Duration
			for b.Loop() {
				t := time.Now().Add(d)
				if err := bc.sleep(ctx, t); err != nil {
					b.Fatal(err)
				}
				late += time.Since(t)
			}
			b.ReportMetric(float64(late.Microseconds())/float64(b.N), "late-µs/op")
		})
	}
}
