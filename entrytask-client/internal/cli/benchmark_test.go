package cli

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/bench"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient/kvfake"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// deterministicHarness is a harness whose reads take 1, 2, 3, … ms of virtual time and whose
// every tenth read is refused as over quota, so a one-worker benchmark's report is exact.
func deterministicHarness(t *testing.T) *harness {
	t.Helper()
	clk := bench.NewVirtualClock(epoch)
	var n atomic.Int64
	h := newHarness(t, 100, func(_ context.Context, method, _ string) error {
		if method != kvfake.MethodRead {
			return nil
		}
		i := n.Add(1)
		clk.Advance(time.Duration(i) * time.Millisecond)
		if i%10 == 0 {
			return kvclient.Errorf(kvclient.Code(codes.ResourceExhausted), "read quota exceeded")
		}
		return nil
	})
	h.clock = clk
	h.seedValue(t, "100", "c", "v")
	return h
}

// TestBenchmarkJSONGolden pins the structure (and, with a virtual clock, the values) of
// `benchmark --output json`. Run with -update to rewrite testdata/benchmark_read.golden.json.
func TestBenchmarkJSONGolden(t *testing.T) {
	h := deterministicHarness(t)
	code := h.run("benchmark", "read", "-u", "100", "-p", "100", "-k", "c", "-c", "1", "-r", "100", "--output", "json", "--max-failures", "10")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	golden := filepath.Join("testdata", "benchmark_read.golden.json")
	if *update {
		if err := os.WriteFile(golden, h.stdout.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := h.stdout.String(); got != string(want) {
		t.Fatalf("report differs from %s (run with -update if intended):\n%s", golden, got)
	}

	// The previous etclient's fields are all present.
	var m map[string]any
	if err := json.Unmarshal(h.stdout.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"Concurrency", "requests", "Success", "Failure", "QPS", "MaxRT", "MinRT", "AvgRT", "Duration", "LatencySummary", "username", "method", "key", "value", "percentiles", "failuresByCode"} {
		if _, ok := m[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	if h.stderr.Len() != 0 {
		t.Fatalf("stderr %q when not a terminal", h.stderr.String())
	}
}

// TestBenchmarkMaxFailures: more failures than --max-failures exit non-zero after the report.
func TestBenchmarkMaxFailures(t *testing.T) {
	tests := []struct {
		max      string
		wantCode int
	}{{"0", ExitFailure}, {"9", ExitFailure}, {"10", ExitOK}}
	for _, tt := range tests {
		t.Run("max="+tt.max, func(t *testing.T) {
			h := deterministicHarness(t)
			code := h.run("benchmark", "read", "-u", "100", "-p", "100", "-k", "c", "-r", "100", "--max-failures", tt.max)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d: %s", code, tt.wantCode, h.stderr.String())
			}
			out := strings.Join(strings.Fields(h.stdout.String()), " ")
			for _, w := range []string{"requests 100 (90 ok, 10 failed)", "failed RESOURCE_EXHAUSTED 10", "latency max 99ms", "latency min 1ms"} {
				if !strings.Contains(out, w) {
					t.Errorf("table lacks %q:\n%s", w, h.stdout.String())
				}
			}
			if tt.wantCode != ExitOK && h.stderr.String() != "etclient: benchmark read: 10 failed requests exceed --max-failures "+tt.max+"\n" {
				t.Fatalf("stderr %q", h.stderr.String())
			}
		})
	}
}

func TestBenchmarkModes(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantReads int
		wantJSON  map[string]any
	}{
		{name: "closed loop count", args: []string{"-c", "1", "-r", "30"}, wantReads: 30,
			wantJSON: map[string]any{"mode": "closed", "requests": 30.0, "Concurrency": 1.0}},
		{name: "closed loop duration", args: []string{"-c", "1", "-d", "1s"}, wantReads: 100,
			wantJSON: map[string]any{"mode": "closed", "requests": 100.0, "Duration": float64(time.Second)}}, // requests sent per worker
		{name: "open loop duration", args: []string{"--rate", "50", "-d", "2s", "-c", "1"}, wantReads: 100,
			wantJSON: map[string]any{"mode": "open", "rate": 50.0}},
		{name: "open loop count", args: []string{"--rate", "1000", "-c", "3", "-r", "7"}, wantReads: 21,
			wantJSON: map[string]any{"mode": "open", "Concurrency": 3.0, "total": 21.0}},
		{name: "warmup", args: []string{"-c", "1", "-r", "5", "--warmup", "100ms"}, wantReads: 15,
			wantJSON: map[string]any{"Success": 5.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := bench.NewVirtualClock(epoch)
			h := newHarness(t, 1, func(_ context.Context, method, _ string) error {
				if method == kvfake.MethodRead {
					clk.Advance(10 * time.Millisecond)
				}
				return nil
			})
			h.clock = clk
			h.seedValue(t, "1", "a", "v")
			args := append([]string{"benchmark", "read", "--output", "json"}, tt.args...)
			if code := h.run(args...); code != ExitOK {
				t.Fatalf("exit %d: %s", code, h.stderr.String())
			}
			if got := h.srv.Calls(kvfake.MethodRead); got != tt.wantReads {
				t.Fatalf("%d reads, want %d", got, tt.wantReads)
			}
			var m map[string]any
			if err := json.Unmarshal(h.stdout.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.wantJSON {
				if m[k] != v {
					t.Errorf("%s = %v, want %v", k, m[k], v)
				}
			}
		})
	}
}

// TestBenchmarkUsers: --users N logs N distinct users in before the clock starts, and the
// requests use each user's own session.
func TestBenchmarkUsers(t *testing.T) {
	var measuring atomic.Bool
	var lateLogins atomic.Int64
	h := newHarness(t, 20, func(_ context.Context, method, _ string) error {
		if method == kvfake.MethodLogin && measuring.Load() {
			lateLogins.Add(1)
		}
		if method == kvfake.MethodWrite {
			measuring.Store(true)
		}
		return nil
	})
	code := h.run("benchmark", "write", "-u", "11", "-p", "11", "--users", "5", "-c", "2", "-r", "5", "-k", "k", "-v", "v")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	if got := len(h.loginUsers()); got != 5 || lateLogins.Load() != 0 {
		t.Fatalf("%d logins (%d after the first request), want 5 before", got, lateLogins.Load())
	}
	if h.stderr.Len() != 0 {
		t.Fatalf("stderr %q when not a terminal", h.stderr.String())
	}
	measuring.Store(false)
	h.terminal = true
	if code := h.run("benchmark", "write", "-u", "11", "-p", "11", "--users", "5", "-k", "k", "-v", "v"); code != ExitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	if got := h.stderr.String(); !strings.Contains(got, "logging in 5 users") || !strings.Contains(got, "5/5") {
		t.Fatalf("stderr %q, want a finished login bar", got)
	}
	h.terminal = false
	for _, u := range []string{"11", "12", "13", "14", "15"} {
		if v, ok := h.srv.Value(u, "k"); !ok || v != "v" {
			t.Fatalf("user %s was not used", u)
		}
	}
	if _, ok := h.srv.Value("16", "k"); ok {
		t.Fatal("user 16 was used")
	}

	h = newHarness(t, 3, nil)
	if code := h.run("benchmark", "read", "-u", "2", "-p", "2", "--users", "3"); code != ExitFailure {
		t.Fatalf("exit %d", code)
	}
	if got := h.stderr.String(); got != `etclient: benchmark read: bench: login as user "4": kvclient: INCORRECT_USERNAME_OR_PASSWORD: incorrect username or password`+"\n" {
		t.Fatalf("stderr %q", got)
	}
	if h.srv.Calls(kvfake.MethodRead) != 0 {
		t.Fatal("the benchmark ran after a failed login")
	}
}

// TestBenchmarkWithoutSessionShowsRefusal: reads of a user that cannot log in never start;
// reads of a missing key are counted by code.
func TestBenchmarkFailuresByCode(t *testing.T) {
	h := newHarness(t, 1, nil)
	code := h.run("benchmark", "read", "-k", "missing", "-c", "2", "-r", "3", "--output", "json")
	if code != ExitFailure {
		t.Fatalf("exit %d", code)
	}
	var r bench.Report
	if err := json.Unmarshal(h.stdout.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.Failure != 6 || r.FailuresByCode["KEY_NOT_EXIST"] != 6 || r.Success != 0 || r.QPS != 0 {
		t.Fatalf("report %+v", r)
	}
}

func TestBenchmarkValueSize(t *testing.T) {
	h := newHarness(t, 1, nil)
	if code := h.run("benchmark", "write", "-v", "abc", "--value-size", "1000"); code != ExitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	v, _ := h.srv.Value("1", "a")
	if len(v) != 1000 || !strings.HasPrefix(v, "abcabc") || !strings.HasSuffix(v, "abca") {
		t.Fatalf("value of %d bytes: %.20q…", len(v), v)
	}
	var r bench.Report
	h.run("benchmark", "write", "-v", "abc", "--value-size", "1000", "--output", "json")
	if err := json.Unmarshal(h.stdout.Bytes(), &r); err != nil || r.Value != "abc" || r.ValueSize != 1000 {
		t.Fatalf("report value %q size %d (%v)", r.Value, r.ValueSize, err)
	}
}

// TestBenchmarkCPUProfile: --cpuprofile writes a CPU profile of the run.
func TestBenchmarkCPUProfile(t *testing.T) {
	h := newHarness(t, 1, nil)
	h.seedValue(t, "1", "a", "v")
	path := filepath.Join(t.TempDir(), "cpu.prof")
	if code := h.run("benchmark", "read", "-r", "10", "--cpuprofile", path); code != ExitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("profile %s: %v, %v", path, fi, err)
	}
	if code := h.run("benchmark", "read", "-r", "1", "--cpuprofile", filepath.Join(t.TempDir(), "no", "dir")); code == ExitOK {
		t.Fatal("--cpuprofile in a missing directory: exit 0")
	}
}

// TestProgressBar: the bar goes to stderr when it is a terminal, and nothing otherwise.
func TestProgressBar(t *testing.T) {
	for _, terminal := range []bool{true, false} {
		h := newHarness(t, 1, nil)
		h.terminal = terminal
		h.seedValue(t, "1", "a", "v")
		if code := h.run("benchmark", "read", "-c", "2", "-r", "50"); code != ExitOK {
			t.Fatalf("exit %d: %s", code, h.stderr.String())
		}
		got := h.stderr.String()
		if terminal && (!strings.Contains(got, "benchmark read") || !strings.Contains(got, "100/100")) {
			t.Fatalf("terminal stderr %q, want a finished bar", got)
		}
		if !terminal && got != "" {
			t.Fatalf("non-terminal stderr %q, want nothing", got)
		}
		if !strings.Contains(h.stdout.String(), "requests") {
			t.Fatalf("stdout %q", h.stdout.String())
		}
	}
}

// TestProgressSpinner: a --duration run has no request count; its progress is a counter
// (and the bar starts no goroutine of its own, which goleak checks).
func TestProgressSpinner(t *testing.T) {
	clk := bench.NewVirtualClock(epoch)
	h := newHarness(t, 1, func(_ context.Context, method, _ string) error {
		if method == kvfake.MethodRead {
			clk.Advance(time.Millisecond)
		}
		return nil
	})
	h.clock, h.terminal = clk, true
	h.seedValue(t, "1", "a", "v")
	if code := h.run("benchmark", "read", "-d", "2s"); code != ExitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	if got := h.stderr.String(); !strings.Contains(got, "benchmark read") || !strings.Contains(got, "2000") {
		t.Fatalf("stderr %q, want a counter reaching 2000", got)
	}
}

// TestBenchmarkInterrupted: Ctrl-C (the context ending) stops a long benchmark; the report
// of what was measured is still printed, and the exit status says it was interrupted.
func TestBenchmarkInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n atomic.Int64
	h := newHarness(t, 1, func(_ context.Context, method, _ string) error {
		if method == kvfake.MethodRead && n.Add(1) == 50 {
			cancel()
		}
		return nil
	})
	h.seedValue(t, "1", "a", "v")
	code := Run(ctx, []string{"etclient", "benchmark", "read", "-c", "2", "-d", "1h"}, h.env())
	if code != ExitFailure {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(h.stdout.String(), "requests") || h.stderr.String() != "etclient: benchmark read interrupted: context canceled\n" {
		t.Fatalf("stdout %q, stderr %q", h.stdout.String(), h.stderr.String())
	}
}
