package harness_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
)

func TestHistogramSummary(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
		want   harness.Summary
	}{
		{name: "empty", values: nil, want: harness.Summary{}},
		{
			name:   "one value",
			values: []time.Duration{100 * time.Microsecond},
			want:   harness.Summary{Count: 1, Mean: 100 * time.Microsecond, P50: 100 * time.Microsecond, P99: 100 * time.Microsecond, P999: 100 * time.Microsecond, Max: 100 * time.Microsecond},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := harness.NewHistogram()
			for _, v := range tc.values {
				h.Record(v)
			}
			got := h.Summary()
			if !near(got.P50, tc.want.P50) || !near(got.P99, tc.want.P99) || !near(got.P999, tc.want.P999) ||
				!near(got.Max, tc.want.Max) || !near(got.Mean, tc.want.Mean) || got.Count != tc.want.Count {
				t.Errorf("Summary() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// near reports whether got is within the histogram's 0.1 % precision of want.
func near(got, want time.Duration) bool {
	d := got - want
	if d < 0 {
		d = -d
	}
	return float64(d) <= float64(want)*0.001+1
}

func TestHistogramPercentilesAndMerge(t *testing.T) {
	a, b := harness.NewHistogram(), harness.NewHistogram()
	// 1..1000 µs split over two histograms: p50 ≈ 500 µs, p99 ≈ 990 µs, p99.9 ≈ 999 µs.
	for i := 1; i <= 1000; i++ {
		h := a
		if i%2 == 0 {
			h = b
		}
		h.Record(time.Duration(i) * time.Microsecond)
	}
	a.Merge(b)
	s := a.Summary()
	checks := []struct {
		name      string
		got, want time.Duration
	}{
		{"p50", s.P50, 500 * time.Microsecond},
		{"p99", s.P99, 990 * time.Microsecond},
		{"p99.9", s.P999, 999 * time.Microsecond},
		{"max", s.Max, 1000 * time.Microsecond},
	}
	for _, c := range checks {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if s.Count != 1000 {
		t.Errorf("count = %d, want 1000", s.Count)
	}
}

func TestHistogramClamps(t *testing.T) {
	h := harness.NewHistogram()
	h.Record(-time.Second)
	h.Record(2 * harness.MaxLatency)
	if h.Count() != 2 {
		t.Fatalf("count = %d, want 2", h.Count())
	}
	if s := h.Summary(); !near(s.Max, harness.MaxLatency) {
		t.Errorf("max = %v, want clamped to %v", s.Max, harness.MaxLatency)
	}
}

func TestDelta(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	before := harness.Usage{Wall: t0, CPU: time.Second, Mallocs: 100, AllocBytes: 1000, NumGC: 1}
	after := harness.Usage{Wall: t0.Add(2 * time.Second), CPU: 2 * time.Second, Mallocs: 600, AllocBytes: 6000, NumGC: 3}
	d := after.Sub(before)
	if d.CPUPercent() != 50 {
		t.Errorf("CPUPercent = %v, want 50", d.CPUPercent())
	}
	if got := harness.PerCall(d.Mallocs, 250); got != 2 {
		t.Errorf("allocs per call = %v, want 2", got)
	}
	if got := harness.PerCall(d.Mallocs, 0); got != 0 {
		t.Errorf("allocs per call of no calls = %v, want 0", got)
	}
	if (harness.Delta{}).CPUPercent() != 0 {
		t.Error("CPUPercent of no wall time is not 0")
	}
}

// keep makes the allocations of TestSnapshotAdvances escape to the heap.
var keep [][]byte

func TestSnapshotAdvances(t *testing.T) {
	a, err := harness.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		keep = append(keep, make([]byte, 1024))
	}
	b, err := harness.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if d := b.Sub(a); d.Mallocs < 100 || d.Wall < 0 || d.CPU < 0 {
		t.Errorf("delta after 100 allocations = %+v", d)
	}
}

func TestRunRejectsBadLoad(t *testing.T) {
	ok := func(int) (harness.Worker, error) { return harness.Worker{Call: func() error { return nil }}, nil }
	tests := []struct {
		name string
		load harness.Load
	}{
		{"no workers", harness.Load{Concurrency: 0, Duration: time.Millisecond, NewWorker: ok}},
		{"no duration", harness.Load{Concurrency: 1, NewWorker: ok}},
		{"no factory", harness.Load{Concurrency: 1, Duration: time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := harness.Run(tc.load); !errors.Is(err, harness.ErrBadLoad) {
				t.Errorf("Run = %v, want ErrBadLoad", err)
			}
		})
	}
}

func TestRunMeasuresWindow(t *testing.T) {
	var made, closed atomic.Int32
	var phases []harness.Phase
	m, err := harness.Run(harness.Load{
		Concurrency: 3,
		Warmup:      5 * time.Millisecond,
		Duration:    30 * time.Millisecond,
		NewWorker: func(int) (harness.Worker, error) {
			made.Add(1)
			return harness.Worker{
				Call:  func() error { return nil },
				Close: func() error { closed.Add(1); return nil },
			}, nil
		},
		OnPhase: func(p harness.Phase) error { phases = append(phases, p); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if made.Load() != 3 || closed.Load() != 3 {
		t.Errorf("made %d workers, closed %d; want 3 and 3", made.Load(), closed.Load())
	}
	if len(phases) != 2 || phases[0] != harness.PhaseStart || phases[1] != harness.PhaseEnd {
		t.Errorf("phases = %v, want [start end]", phases)
	}
	if m.Window < 30*time.Millisecond {
		t.Errorf("window = %v, shorter than the 30ms asked", m.Window)
	}
	if m.Latency.Count != m.Calls {
		t.Errorf("latency count %d != calls %d", m.Latency.Count, m.Calls)
	}
}

func TestRunStopsOnFailure(t *testing.T) {
	boom := errors.New("boom")
	_, err := harness.Run(harness.Load{
		Concurrency: 2,
		Duration:    time.Minute, // the failure must end the run long before this
		NewWorker: func(i int) (harness.Worker, error) {
			return harness.Worker{Call: func() error {
				if i == 1 {
					return boom
				}
				return nil
			}}, nil
		},
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want boom", err)
	}
}

func TestRunClosesWorkersWhenOneCannotStart(t *testing.T) {
	var closed atomic.Int32
	boom := errors.New("no stream")
	_, err := harness.Run(harness.Load{
		Concurrency: 3,
		Duration:    time.Millisecond,
		NewWorker: func(i int) (harness.Worker, error) {
			if i == 2 {
				return harness.Worker{}, boom
			}
			return harness.Worker{Call: func() error { return nil }, Close: func() error { closed.Add(1); return nil }}, nil
		},
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the worker error", err)
	}
	if closed.Load() != 2 {
		t.Errorf("closed %d workers, want the 2 started", closed.Load())
	}
}

func TestFixedRunsExactlyN(t *testing.T) {
	var n atomic.Int64
	calls := make([]harness.Call, 4)
	for i := range calls {
		calls[i] = func() error { n.Add(1); return nil }
	}
	f := harness.NewFixed(calls)
	for _, want := range []int{1, 17, 100} {
		n.Store(0)
		if err := f.RunN(want); err != nil {
			t.Fatal(err)
		}
		s := f.Summary()
		if n.Load() != int64(want) || s.Count != int64(want) {
			t.Errorf("RunN(%d) made %d calls, recorded %d", want, n.Load(), s.Count)
		}
	}
	if err := harness.NewFixed(nil).RunN(1); !errors.Is(err, harness.ErrBadLoad) {
		t.Errorf("RunN with no workers = %v, want ErrBadLoad", err)
	}
}

func sampleReport() harness.Report {
	r := harness.Result{Suite: "rpc", Mode: "unary", Framework: "grpc", Payload: 1024, Concurrency: 100}
	r.Fill(harness.Measurement{
		Calls:   50000,
		Window:  2 * time.Second,
		Latency: harness.Summary{Count: 50000, P50: 1500 * time.Microsecond, P99: 4 * time.Millisecond, P999: 9 * time.Millisecond},
		Usage:   harness.Delta{Wall: 2 * time.Second, CPU: time.Second, Mallocs: 4_000_000, AllocBytes: 400_000_000},
	}, &harness.Delta{Wall: 2 * time.Second, CPU: 2 * time.Second, Mallocs: 2_500_000})
	failed := harness.Result{Suite: "rpc", Mode: "unary", Framework: "arpc", Payload: 1024, Concurrency: 100, Note: "rpcbench: client: boom, \"quoted\""}
	return harness.Report{
		Date: time.Date(2026, 11, 21, 17, 0, 0, 0, time.UTC), Command: "rpcbench --short", GoVersion: "go1.26.8",
		CPUs: 2, CPUModel: "test cpu", Pinned: true, Warmup: "2s", Duration: "3s",
		Results: []harness.Result{r, failed},
	}
}

func TestFill(t *testing.T) {
	r := sampleReport().Results[0]
	checks := []struct {
		name      string
		got, want float64
	}{
		{"calls/s", r.CallsPerSecond, 25000},
		{"MB/s", r.MBPerSecond, 25000 * 1024 / 1e6},
		{"p99 µs", r.P99Micros, 4000},
		{"client allocs/call", r.ClientAllocsPerCall, 80},
		{"server allocs/call", r.ServerAllocsPerCall, 50},
		{"client bytes/call", r.ClientBytesPerCall, 8000},
		{"client CPU %", r.ClientCPUPercent, 50},
		{"server CPU %", r.ServerCPUPercent, 100},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestCSV(t *testing.T) {
	var buf bytes.Buffer
	rep := sampleReport()
	if err := harness.WriteCSV(&buf, rep.Results); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("written CSV does not parse: %v", err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want header + 2", len(rows))
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	want := map[string]string{"framework": "grpc", "concurrency": "100", "calls_per_s": "25000.0", "p99_us": "4000.0", "server_allocs_per_call": "50.00"}
	for name, v := range want {
		i, ok := col[name]
		if !ok {
			t.Errorf("no column %q in %v", name, rows[0])
			continue
		}
		if rows[1][i] != v {
			t.Errorf("%s = %q, want %q", name, rows[1][i], v)
		}
	}
	if got := rows[2][col["note"]]; got != rep.Results[1].Note {
		t.Errorf("note = %q, want %q", got, rep.Results[1].Note)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	rep := sampleReport()
	var buf bytes.Buffer
	if err := harness.WriteJSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	got, err := harness.ReadJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Date.Equal(rep.Date) || got.Command != rep.Command || len(got.Results) != 2 || got.Results[0] != rep.Results[0] || got.Results[1] != rep.Results[1] {
		t.Errorf("round trip changed the report:\n got %+v\nwant %+v", got, rep)
	}
	if _, err := harness.ReadJSON(strings.NewReader(`{"results": [{"bogus": 1}]}`)); err == nil || !strings.HasPrefix(err.Error(), "harness: ") {
		t.Errorf("ReadJSON of an unknown field = %v, want a harness error", err)
	}
}

func TestSaveReport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "results")
	jsonPath, csvPath, err := harness.SaveReport(dir, "rpc", sampleReport())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{jsonPath, csvPath} {
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", p, err)
		}
	}
	if filepath.Base(jsonPath) != "rpc.json" || filepath.Base(csvPath) != "rpc.csv" {
		t.Errorf("paths %s, %s; want rpc.json, rpc.csv", jsonPath, csvPath)
	}
}
