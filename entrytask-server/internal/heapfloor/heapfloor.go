// Package heapfloor gives a Go process a minimum heap: the collector does not start a cycle
// before the heap reaches the floor. etserver serves with one (gc_min_heap_mib, through
// package wire) and etclient's benchmark runs with one, because each of their calls leaves a
// few KB of garbage on a live heap of a few MB, which without a floor makes the collector run
// tens of times a second and show in the latency tail.
//
//	defer heapfloor.Set(128 << 20)()
package heapfloor

import (
	"math"
	"runtime"
	"runtime/metrics"
)

// Set keeps the collector from starting a cycle before the heap reaches about
// floor bytes, and returns the function that lifts the floor again.
//
// Go has no minimum-heap setting (GOMEMLIMIT is a ceiling; golang/go#23044 asked for a
// floor), so this uses a ballast, as Twitch described in 2019 and gopls kept doing after
// GOMEMLIMIT (golang/tools, gopls/internal/cache, 2024): one pointer-free allocation that the
// collector counts as live but never scans. The runtime does not write to a large allocation
// fresh from the OS, so a ballast allocated at start-up costs address space, not resident
// memory (one placed in memory the process used and freed before does become resident). The
// heap goal is (live + ballast) × (1 + GOGC/100); the ballast is sized so that the goal is
// floor when nothing else is live.
//
// Nothing is done when floor ≤ 0, when the collector is off (GOGC=off), or when a memory
// limit is set (GOMEMLIMIT): the ballast would count against the limit, and an operator who
// set one has chosen how the heap may grow.
func Set(floor int64) (release func()) {
	if floor <= 0 {
		return func() {}
	}
	gc := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(gc)
	if gc[0].Value.Kind() != metrics.KindUint64 || gc[1].Value.Kind() != metrics.KindUint64 {
		return func() {} // not reported by this runtime
	}
	// GOGC=off is a percent of -1, read as a uint64.
	percent, limit := int64(gc[0].Value.Uint64()), int64(gc[1].Value.Uint64())
	if percent < 0 || limit != math.MaxInt64 {
		return func() {}
	}
	size := floor * 100 / int64(100+percent)
	if size <= 0 {
		return func() {}
	}
	ballast := make([]byte, size)
	// The closure holds the ballast until it is called (not merely until it is dropped).
	return func() {
		runtime.KeepAlive(ballast)
		ballast = nil
	}
}
