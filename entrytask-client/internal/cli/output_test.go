package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/bench"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient/kvfake"
)

// virtualHarness answers every read after 1 ms of virtual time.
func virtualHarness(t *testing.T) *harness {
	clk := bench.NewVirtualClock(epoch)
	h := newHarness(t, 1, func(_ context.Context, method, _ string) error {
		if method == kvfake.MethodRead {
			clk.Advance(time.Millisecond)
		}
		return nil
	})
	h.clock = clk
	h.seedValue(t, "1", "a", "v")
	return h
}

// TestBenchmarkSummaryJSON: the JSON report's "summary" block has one naming style and the
// unit in every key, and agrees with the old fields.
func TestBenchmarkSummaryJSON(t *testing.T) {
	h := virtualHarness(t)
	if code := h.run("benchmark", "read", "-c", "1", "-d", "1s", "--output", "json"); code != ExitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	var rep bench.Report
	var raw struct {
		Summary map[string]any `json:"summary"`
	}
	if err := json.Unmarshal(h.stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(h.stdout.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	unit := regexp.MustCompile(`^[a-z0-9_]+$`)
	for k := range raw.Summary {
		if !unit.MatchString(k) {
			t.Errorf("summary key %q is not snake_case", k)
		}
	}
	s := rep.Summary
	if s.RequestsTotal != 1000 || s.RequestsOK != 1000 || s.DurationS != 1 || s.OKPerS != 1000 ||
		s.LatencyP99Ms != 1 || s.LatencyMaxMs != 1 || s.Method != "read" || s.Mode != "closed" {
		t.Fatalf("summary %+v", s)
	}
	if rep.Requests != 1000 || rep.Total != 1000 {
		t.Fatalf("legacy requests %d total %d on a -d run, want 1000 and 1000", rep.Requests, rep.Total)
	}
}

// TestBenchmarkCSV: --output csv prints a header and one row with the summary's columns.
func TestBenchmarkCSV(t *testing.T) {
	h := virtualHarness(t)
	if code := h.run("benchmark", "read", "-c", "1", "-r", "50", "--output", "csv"); code != ExitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	recs, err := csv.NewReader(strings.NewReader(h.stdout.String())).ReadAll()
	if err != nil || len(recs) != 2 || len(recs[0]) != len(recs[1]) {
		t.Fatalf("csv %q: %v", h.stdout.String(), err)
	}
	row := map[string]string{}
	for i, k := range recs[0] {
		row[k] = recs[1][i]
	}
	for k, want := range map[string]string{
		"method": "read", "requests_total": "50", "requests_ok": "50", "duration_s": "0.05",
		"ok_per_s": "1000", "latency_p50_ms": "1", "latency_p99_9_ms": "1", "failures_by_code": "", "stopped": "",
	} {
		if row[k] != want {
			t.Errorf("%s = %q, want %q", k, row[k], want)
		}
	}
	// csv is for benchmarks only.
	h = virtualHarness(t)
	if code := h.run("login", "--output", "csv"); code != ExitUsage || !strings.Contains(h.stderr.String(), "--output csv is for benchmarks") {
		t.Fatalf("login --output csv: exit %d, stderr %q", code, h.stderr.String())
	}
}

// TestBenchmarkHist: --hist writes what HdrHistogram tools read: an interval log that
// hdrhistogram-go's reader decodes to the run's histogram, or a percentile distribution.
func TestBenchmarkHist(t *testing.T) {
	dir := t.TempDir()
	h := virtualHarness(t)
	hlog := filepath.Join(dir, "read.hlog")
	if code := h.run("benchmark", "read", "-c", "1", "-r", "200", "--hist", hlog); code != ExitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	f, err := os.Open(hlog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hist, err := hdrhistogram.NewHistogramLogReader(f).NextIntervalHistogram()
	if err != nil || hist == nil {
		t.Fatalf("reading %s: %v", hlog, err)
	}
	if hist.TotalCount() != 200 || hist.ValueAtQuantile(50) < int64(time.Millisecond)*999/1000 {
		t.Fatalf("histogram of %d values, p50 %d ns; want 200 of 1 ms", hist.TotalCount(), hist.ValueAtQuantile(50))
	}

	h = virtualHarness(t)
	hgrm := filepath.Join(dir, "read.hgrm")
	if code := h.run("benchmark", "read", "-c", "1", "-r", "200", "--hist", hgrm); code != ExitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	b, err := os.ReadFile(hgrm)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Value", "Percentile", "TotalCount", "#[Mean", "#[Max"} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("%s lacks %q:\n%s", hgrm, want, b)
		}
	}
	if !regexp.MustCompile(`(?m)^\s+1\.0\d*\s+1\.0+\s+200\s`).Match(b) {
		t.Fatalf("%s: no last row at 1 ms, percentile 1, count 200:\n%s", hgrm, b)
	}

	h = virtualHarness(t)
	if code := h.run("benchmark", "read", "--hist", filepath.Join(dir, "missing", "x.hgrm")); code != ExitFailure {
		t.Fatalf("--hist in a missing directory: exit %d", code)
	}
}

// TestProgressETA: the terminal bar shows the count, the rate of the last window and the
// time left, for a -r and a -d run.
func TestProgressETA(t *testing.T) {
	for _, args := range [][]string{{"-r", "300"}, {"-d", "300ms"}} {
		h := virtualHarness(t)
		h.terminal = true
		if code := h.run(append([]string{"benchmark", "read"}, args...)...); code != ExitOK {
			t.Fatalf("exit %d: %s", code, h.stderr.String())
		}
		got := h.stderr.String()
		if !regexp.MustCompile(`benchmark read  300(/300)? req  1000 req/s  ETA 0s`).MatchString(got) {
			t.Fatalf("%v: stderr %q, want a finished bar with count, rate and ETA", args, got)
		}
	}
}

// TestProgressWindow: the rate is that of the last ProgressWindow, not of the whole run.
func TestProgressWindow(t *testing.T) {
	clk := bench.NewVirtualClock(epoch)
	h := newHarness(t, 1, nil)
	p := newProgress(Env{Stderr: &h.stderr, Clock: clk}, settings{Concurrency: 1, Requests: 100000}, "read")
	p.update(0)
	for i := 1; i <= 50; i++ { // 10 s at 1,000/s, then 5 s at 100/s
		clk.Advance(bench.DefaultProgressInterval)
		p.update(int64(i) * 200)
	}
	for i := 1; i <= 25; i++ {
		clk.Advance(bench.DefaultProgressInterval)
		p.update(10000 + int64(i)*20)
	}
	// 100/s over the window (the average since the start would be 700/s); 89,500 left at
	// that rate is 895 s.
	if want := "benchmark read  10500/100000 req  100 req/s  ETA 14m55s"; p.desc != want {
		t.Fatalf("bar %q, want %q", p.desc, want)
	}
}

// TestBenchmarkUnreachable: a server that stops answering (UNAVAILABLE) is reported and
// the run ends after --max-conn-failures failed attempts, with the report and exit 1.
func TestBenchmarkUnreachable(t *testing.T) {
	clk := bench.NewVirtualClock(epoch)
	var reads atomic.Int64
	h := newHarness(t, 1, func(_ context.Context, method, _ string) error {
		if method != kvfake.MethodRead {
			return nil
		}
		if reads.Add(1) > 100 {
			return kvclient.Errorf(kvclient.Code(codes.Unavailable), "dial: connection refused")
		}
		clk.Advance(time.Millisecond)
		return nil
	})
	h.clock = clk
	h.seedValue(t, "1", "a", "v")
	code := h.run("benchmark", "read", "-c", "4", "-r", "1000000", "--max-conn-failures", "5")
	if code != ExitFailure {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	stderr := h.stderr.String()
	if !strings.Contains(stderr, "etclient: server unreachable (failed attempts in a row: 1), backing off: kvclient: UNAVAILABLE: dial: connection refused") ||
		!strings.Contains(stderr, "etclient: benchmark read stopped early (--max-conn-failures 5): bench: server unreachable: 5 attempts in a row failed") {
		t.Fatalf("stderr %q", stderr)
	}
	if !regexp.MustCompile(`(?m)^stopped early\s+bench: server unreachable`).MatchString(h.stdout.String()) ||
		!regexp.MustCompile(`(?m)^failed UNAVAILABLE\s+\d+$`).MatchString(h.stdout.String()) {
		t.Fatalf("report %q", h.stdout.String())
	}
	if n := reads.Load(); n > 100+4*6 {
		t.Fatalf("%d reads: the back-off should have sent at most a round per attempt", n)
	}
}
