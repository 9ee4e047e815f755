package main

import (
	"os"
	"runtime/debug"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/config"
)

// tuneGC applies the operator's garbage-collector settings to the whole process while it
// serves, and returns the function that undoes them. etserver runs with Go's defaults
// (GOGC=100, no memory limit) except for what the configuration says:
//   - gc_percent becomes the collector's target (debug.SetGCPercent) when it is positive and
//     GOGC is not set in the environment (default 0: Go's);
//   - gc_memory_limit_mib becomes the runtime's soft memory limit (debug.SetMemoryLimit)
//     when it is positive and GOMEMLIMIT is not set in the environment (default
//     config.DefaultGCMemoryLimitMiB, the bound of the resource model under a login flood).
//
// Only this package, the program's main, sets process-wide GC state; the libraries under
// internal/ never do.
func tuneGC(cfg config.Config) (restore func()) {
	restorePercent := func() {}
	if cfg.GCPercent > 0 && os.Getenv("GOGC") == "" {
		prev := debug.SetGCPercent(cfg.GCPercent)
		restorePercent = func() { debug.SetGCPercent(prev) }
	}
	restoreLimit := func() {}
	if cfg.GCMemoryLimitMiB > 0 && os.Getenv("GOMEMLIMIT") == "" {
		prev := debug.SetMemoryLimit(int64(cfg.GCMemoryLimitMiB) << 20)
		restoreLimit = func() { debug.SetMemoryLimit(prev) }
	}
	return func() { restoreLimit(); restorePercent() }
}
