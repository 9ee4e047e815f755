package heapfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
)

// heapGoal is the collector's current heap goal, after a full cycle.
func heapGoal(t *testing.T) uint64 {
	t.Helper()
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Fatalf("metric %s not supported", s[0].Name)
	}
	return s[0].Value.Uint64()
}

func TestSet(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	const floor = 256 << 20
	if g := heapGoal(t); g >= floor {
		t.Fatalf("heap goal is %d bytes before the floor; the test needs it below %d", g, floor)
	}
	release := Set(floor)
	if g := heapGoal(t); g < floor*9/10 {
		t.Errorf("heap goal with a floor of %d bytes = %d, want about the floor", floor, g)
	}
	release()
	if g := heapGoal(t); g >= floor/2 {
		t.Errorf("heap goal after release = %d, want it back below %d", g, floor/2)
	}
	runtime.KeepAlive(release) // calling it, not dropping it, lifts the floor

	t.Run("off", func(t *testing.T) {
		before := heapGoal(t)
		defer Set(0)()
		if g := heapGoal(t); g > before+16<<20 {
			t.Errorf("floor 0 raised the heap goal from %d to %d", before, g)
		}
	})
	t.Run("GOGC=off", func(t *testing.T) {
		defer debug.SetGCPercent(debug.SetGCPercent(-1))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		defer Set(floor)()
		runtime.ReadMemStats(&after)
		if after.HeapAlloc > before.HeapAlloc+16<<20 {
			t.Errorf("with the collector off the floor allocated %d bytes", after.HeapAlloc-before.HeapAlloc)
		}
	})
	t.Run("memory limit set", func(t *testing.T) {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(1 << 40))
		before := heapGoal(t)
		defer Set(floor)()
		if g := heapGoal(t); g > before+16<<20 {
			t.Errorf("with GOMEMLIMIT set the floor raised the heap goal from %d to %d", before, g)
		}
	})
}
