package bench

import (
	"context"
	"testing"
)

// BenchmarkClosedLoop measures the engine's own cost per request (clock reads, recording
// into the sharded HDR histogram) with an Op that does nothing.
func BenchmarkClosedLoop(b *testing.B) {
	for _, c := range []int{1, 16} {
		b.Run(map[int]string{1: "c=1", 16: "c=16"}[c], func(b *testing.B) {
			b.ReportAllocs()
			op := func(context.Context, int, int64) error { return nil }
			per := max(int64(b.N)/int64(c), 1)
			b.ResetTimer()
			if _, err := Run(context.Background(), Options{Concurrency: c, Requests: per}, op); err != nil {
				b.Fatal(err)
			}
		})
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
