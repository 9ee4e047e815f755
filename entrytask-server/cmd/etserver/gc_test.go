package main

import (
	"runtime/debug"
	"testing"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/config"
)

func gcConfig(t *testing.T, flags map[string]any) config.Config {
	t.Helper()
	cfg, err := config.Load(config.Sources{Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestTuneGC checks that the defaults leave Go's GC target alone, that gc_percent and
// gc_memory_limit_mib apply while serving and are undone, and that GOGC and GOMEMLIMIT in
// the environment win.
func TestTuneGC(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	before := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(before)

	restore := tuneGC(gcConfig(t, nil))
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent with the defaults = %d, want Go's 100", got)
	}
	if got := debug.SetMemoryLimit(-1); got != config.DefaultGCMemoryLimitMiB<<20 {
		t.Errorf("memory limit with the defaults = %d, want %d MiB", got, config.DefaultGCMemoryLimitMiB)
	}
	restore()

	restore = tuneGC(gcConfig(t, map[string]any{"gc_percent": 250, "gc_memory_limit_mib": 300}))
	if got := debug.SetGCPercent(250); got != 250 {
		t.Errorf("GC percent while tuned = %d, want gc_percent 250", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 300<<20 {
		t.Errorf("memory limit while tuned = %d, want gc_memory_limit_mib 300 MiB", got)
	}
	restore()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent after restore = %d, want 100", got)
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("memory limit after restore = %d, want %d", got, before)
	}

	restore = tuneGC(gcConfig(t, map[string]any{"gc_memory_limit_mib": 0}))
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("gc_memory_limit_mib 0 set the memory limit to %d", got)
	}
	restore()

	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "1GiB")
	tuneGC(gcConfig(t, map[string]any{"gc_percent": 250, "gc_memory_limit_mib": 300}))()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set tuneGC changed the GC percent to %d", got)
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("with GOMEMLIMIT set tuneGC changed the memory limit to %d", got)
	}
}
