package wire

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"

	"github.com/seed857a6cbd/pocket/entrytask-server/infra/config"
)

// TuneGC sets the garbage collector up for serving, for the whole process, and returns
// the function that undoes it:
//   - gc_percent becomes the collector's target (debug.SetGCPercent) when it is positive
//     and GOGC is not set in the environment: each call allocates a few KB and keeps
//     nothing, so with Go's default target the collector runs dozens of times a second
//     under load, for a heap of a few MB;
//   - then gc_min_heap_mib becomes the heap floor (see setHeapFloor), sized for the target
//     just set.
//
// The returned function lifts the floor, then restores the previous target.
func TuneGC(cfg config.Config) (restore func()) {
	restorePercent := func() {}
	if cfg.GCPercent > 0 && os.Getenv("GOGC") == "" {
		prev := debug.SetGCPercent(cfg.GCPercent)
		restorePercent = func() { debug.SetGCPercent(prev) }
	}
	// After gc_percent: the floor's ballast is sized for the percent in force.
	release := setHeapFloor(int64(cfg.GCMinHeapMiB) << 20)
	return func() { release(); restorePercent() }
}

// setHeapFloor keeps the collector from starting a cycle before the heap reaches about
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
func setHeapFloor(floor int64) (release func()) {
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
