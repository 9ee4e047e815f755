package harness

import (
	"fmt"
	"runtime"
	"syscall"
	"time"
)

// Usage is a snapshot of what the current process has consumed so far: CPU time from
// getrusage(RUSAGE_SELF) and heap allocation counters from runtime.MemStats.
type Usage struct {
	// Wall is when the snapshot was taken.
	Wall time.Time `json:"wall"`
	// CPU is user plus system CPU time of the whole process.
	CPU time.Duration `json:"cpu_ns"`
	// Mallocs is the cumulative count of heap objects allocated.
	Mallocs uint64 `json:"mallocs"`
	// AllocBytes is the cumulative bytes allocated for heap objects.
	AllocBytes uint64 `json:"alloc_bytes"`
	// NumGC is the number of completed GC cycles.
	NumGC uint32 `json:"num_gc"`
}

// Snapshot reads the process's usage now. It stops the world briefly (ReadMemStats), so
// take it only at phase boundaries.
func Snapshot() (Usage, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return Usage{}, fmt.Errorf("harness: getrusage: %w", err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Usage{
		Wall:       time.Now(),
		CPU:        time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		Mallocs:    ms.Mallocs,
		AllocBytes: ms.TotalAlloc,
		NumGC:      ms.NumGC,
	}, nil
}

// Delta is what a process consumed between two snapshots.
type Delta struct {
	Wall       time.Duration
	CPU        time.Duration
	Mallocs    uint64
	AllocBytes uint64
	NumGC      uint32
}

// Sub returns the consumption from earlier to u.
func (u Usage) Sub(earlier Usage) Delta {
	return Delta{
		Wall:       u.Wall.Sub(earlier.Wall),
		CPU:        u.CPU - earlier.CPU,
		Mallocs:    u.Mallocs - earlier.Mallocs,
		AllocBytes: u.AllocBytes - earlier.AllocBytes,
		NumGC:      u.NumGC - earlier.NumGC,
	}
}

// CPUPercent is CPU time over wall time in percent of one core (200 = two cores busy);
// zero when no wall time passed.
func (d Delta) CPUPercent() float64 {
	if d.Wall <= 0 {
		return 0
	}
	return 100 * float64(d.CPU) / float64(d.Wall)
}

// PerCall divides a counter by calls; zero when there were no calls.
func PerCall(v uint64, calls int64) float64 {
	if calls <= 0 {
		return 0
	}
	return float64(v) / float64(calls)
}
