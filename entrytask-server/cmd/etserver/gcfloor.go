package main

import (
	"math"
	"runtime"
	"runtime/debug"
)

// setHeapFloor keeps the collector from starting a cycle before the heap reaches about
// floor bytes, and returns the function that lifts the floor again.
//
// Go has no minimum-heap setting (GOMEMLIMIT is a ceiling), so this uses the technique gopls
// uses: a ballast, one pointer-free allocation that the collector counts as live but never
// scans. The runtime does not write to a large allocation fresh from the OS, so the ballast
// costs address space, not resident memory. The heap goal is (live + ballast) ×
// (1 + GOGC/100); the ballast is sized so that the goal is floor when nothing else is live.
//
// Nothing is done when floor ≤ 0, when the collector is off (GOGC=off), or when a memory
// limit is set (GOMEMLIMIT): the ballast would count against the limit, and an operator who
// set one has chosen how the heap may grow.
func setHeapFloor(floor int64) (release func()) {
	if floor <= 0 {
		return func() {}
	}
	percent := debug.SetGCPercent(-1)
	debug.SetGCPercent(percent)
	if percent < 0 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		return func() {}
	}
	size := floor * 100 / int64(100+percent)
	if size <= 0 {
		return func() {}
	}
	ballast := make([]byte, size)
	return func() { runtime.KeepAlive(ballast) }
}
