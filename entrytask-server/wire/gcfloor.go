package wire

import (
	"os"
	"runtime/debug"

	"github.com/seed857a6cbd/pocket/entrytask-server/heapfloor"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/config"
)

// TuneGC sets the garbage collector up for serving, for the whole process, and returns
// the function that undoes it:
//   - gc_percent becomes the collector's target (debug.SetGCPercent) when it is positive
//     and GOGC is not set in the environment: each call allocates a few KB and keeps
//     nothing, so with Go's default target the collector runs dozens of times a second
//     under load, for a heap of a few MB;
//   - then gc_min_heap_mib becomes the heap floor (see package heapfloor), sized for the target
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
	release := heapfloor.Set(int64(cfg.GCMinHeapMiB) << 20)
	return func() { release(); restorePercent() }
}
