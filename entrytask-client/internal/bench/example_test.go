package bench_test

import (
	"context"
	"fmt"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/bench"
)

// ExampleRun measures an Op whose latencies are known: request i takes i+1 ms of virtual
// time, so the percentiles can be checked by hand (within the histogram's 0.1 %).
func ExampleRun() {
	clk := bench.NewVirtualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	op := func(_ context.Context, _ int, seq int64) error {
		clk.Advance(time.Duration(seq+1) * time.Millisecond)
		return nil
	}
	res, err := bench.Run(context.Background(), bench.Options{Requests: 1000, Clock: clk}, op)
	if err != nil {
		panic(err)
	}
	fmt.Println("requests:", res.Success)
	fmt.Println("p50:", res.Percentile(50).Round(time.Millisecond))
	fmt.Println("p99:", res.Percentile(99).Round(time.Millisecond))
	fmt.Println("max:", res.Max)
	// Output:
	// requests: 1000
	// p50: 500ms
	// p99: 990ms
	// max: 1s
}
