package wire

import (
	"os"
	"runtime/debug"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/heapfloor"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/config"
)

// minLimitOverFloorMiB is how far above the heap floor the memory limit is at least.
const minLimitOverFloorMiB = 64

// TuneGC sets the garbage collector up for serving, for the whole process, and returns
// the function that undoes it:
//   - gc_percent becomes the collector's target (debug.SetGCPercent) when it is positive
//     and GOGC is not set in the environment: each call allocates a few KB and keeps
//     nothing, so with Go's default target the collector runs dozens of times a second
//     under load, for a heap of a few MB;
//   - then gc_min_heap_mib becomes the heap floor (see package heapfloor), sized for the target
//     just set;
//   - then gc_memory_limit_mib becomes the runtime's soft memory limit (debug.SetMemoryLimit)
//     when it is positive and GOMEMLIMIT is not set in the environment, raised to
//     gc_min_heap_mib + 64 MiB if it is lower. It is set after the floor (heapfloor does
//     nothing under a limit) and is above it, so calls that keep the heap under the floor
//     never meet it; it bounds what gc_percent would otherwise multiply
//     during a burst of large live allocations (password checks in a login flood).
//
// The returned function removes the limit, lifts the floor, then restores the previous
// target.
func TuneGC(cfg config.Config) (restore func()) {
	restorePercent := func() {}
	if cfg.GCPercent > 0 && os.Getenv("GOGC") == "" {
		prev := debug.SetGCPercent(cfg.GCPercent)
		restorePercent = func() { debug.SetGCPercent(prev) }
	}
	// After gc_percent: the floor's ballast is sized for the percent in force.
	release := heapfloor.Set(int64(cfg.GCMinHeapMiB) << 20)
	// After the floor, which is not applied under a memory limit.
	restoreLimit := func() {}
	if cfg.GCMemoryLimitMiB > 0 && os.Getenv("GOMEMLIMIT") == "" {
		limit := max(cfg.GCMemoryLimitMiB, cfg.GCMinHeapMiB+minLimitOverFloorMiB)
		prev := debug.SetMemoryLimit(int64(limit) << 20)
		restoreLimit = func() { debug.SetMemoryLimit(prev) }
	}
	return func() { restoreLimit(); release(); restorePercent() }
}
