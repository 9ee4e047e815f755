package e2e

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/bench"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/cli"
)

// benchJSON runs a benchmark with --output json and decodes its report.
func benchJSON(t *testing.T, wantCode int, args ...string) (bench.Report, map[string]any) {
	t.Helper()
	r := etclient(append(args, "--output", "json")...)
	if r.code != wantCode {
		t.Fatalf("exit %d, want %d\n%v", r.code, wantCode, r)
	}
	var rep bench.Report
	var raw map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("report: %v\n%v", err, r)
	}
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatal(err)
	}
	return rep, raw
}

// checkLatencies checks that a report's latencies are real and ordered.
func checkLatencies(t *testing.T, rep bench.Report) {
	t.Helper()
	p := rep.Percentiles
	ordered := []time.Duration{rep.MinRT, p.P50, p.P75, p.P90, p.P95, p.P99, p.P999, p.Max}
	for i := 1; i < len(ordered); i++ {
		// HDR percentiles are within 0.1 % of a recorded value, so allow that much.
		if ordered[i]+ordered[i]/500 < ordered[i-1] {
			t.Fatalf("latencies out of order: %v", ordered)
		}
	}
	if rep.MinRT <= 0 || rep.MaxRT != p.Max || rep.AvgRT < rep.MinRT || rep.AvgRT > rep.MaxRT {
		t.Fatalf("min %v avg %v max %v (percentile max %v)", rep.MinRT, rep.AvgRT, rep.MaxRT, p.Max)
	}
	if want := float64(rep.Success) / rep.Duration.Seconds(); rep.QPS < want*0.999 || rep.QPS > want*1.001 {
		t.Fatalf("QPS %v, want successes/duration = %v", rep.QPS, want)
	}
}

func TestBenchmarkRead(t *testing.T) {
	mustRun(t, "login,write", "-u", "950", "-p", "950", "-k", "br", "-v", "x")
	rep, _ := benchJSON(t, cli.ExitOK, "benchmark", "read", "-u", "950", "-p", "950", "-k", "br", "-c", "4", "-r", "25")
	if rep.Total != 100 || rep.Success != 100 || rep.Failure != 0 || rep.Mode != "closed" || rep.Concurrency != 4 || rep.Requests != 25 || rep.Method != "read" {
		t.Fatalf("report %+v", rep)
	}
	checkLatencies(t, rep)
}

// TestBenchmarkReadLegacy: --legacy reaches the real etserver over the previous version's
// frames; a wrong password still fails the benchmark's login.
func TestBenchmarkReadLegacy(t *testing.T) {
	mustRun(t, "login,write", "--legacy", "-u", "955", "-p", "955", "-k", "bl", "-v", "x")
	rep, _ := benchJSON(t, cli.ExitOK, "benchmark", "read", "--legacy", "-u", "955", "-p", "955", "-k", "bl", "-c", "4", "-r", "25")
	if rep.Total != 100 || rep.Success != 100 || rep.Failure != 0 || rep.Method != "read" {
		t.Fatalf("report %+v", rep)
	}
	checkLatencies(t, rep)
	if r := etclient("login", "--legacy", "-u", "955", "-p", "wrong"); r.code == cli.ExitOK {
		t.Fatalf("legacy login with a wrong password succeeded\n%v", r)
	}
}

func TestBenchmarkWriteTable(t *testing.T) {
	r := mustRun(t, "benchmark", "write", "-u", "951", "-p", "951", "-k", "bw", "-v", "m", "-c", "2", "-r", "10")
	for _, re := range []string{
		`(?m)^workload\s+write key="bw" user=951$`,
		`(?m)^mode\s+closed loop, 2 workers$`,
		`(?m)^requests\s+20 \(20 ok, 0 failed\)$`,
		`(?m)^latency p99\.9\s+\d`,
	} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Fatalf("table lacks %s:\n%s", re, r.stdout)
		}
	}
	if r.stderr != "" {
		t.Fatalf("stderr %q (not a terminal: no progress bar)", r.stderr)
	}
	r = mustRun(t, "login,read", "-u", "951", "-p", "951", "-k", "bw")
	if !strings.Contains(r.stdout, `value="m"`) {
		t.Fatalf("the benchmark's write is not there:\n%v", r)
	}
}

func TestBenchmarkDistinctUsers(t *testing.T) {
	// Users 800..819 each log in once before the clock starts, then requests go round them.
	rep, _ := benchJSON(t, cli.ExitOK, "benchmark", "write", "-u", "800", "-p", "800", "--users", "20", "-k", "du", "-v", "v", "--value-size", "100", "-c", "4", "-r", "10")
	if rep.Success != 40 || rep.Users != 20 || rep.ValueSize != 100 {
		t.Fatalf("write report %+v", rep)
	}
	rep, _ = benchJSON(t, cli.ExitOK, "benchmark", "read", "-u", "800", "-p", "800", "--users", "20", "-k", "du", "-c", "4", "-r", "10")
	if rep.Success != 40 || rep.Users != 20 {
		t.Fatalf("read report %+v", rep)
	}
	checkLatencies(t, rep)
	for _, u := range []string{"800", "819"} {
		r := mustRun(t, "login,read", "-u", u, "-p", u, "-k", "du")
		if !strings.Contains(r.stdout, `value="`+strings.Repeat("v", 100)+`"`) {
			t.Fatalf("user %s:\n%v", u, r)
		}
	}
	// A user beyond the seeded ones stops the benchmark before it sends anything.
	r := etclient("benchmark", "read", "-u", "995", "-p", "995", "--users", "10", "-k", "du")
	if r.code != cli.ExitFailure || !strings.Contains(r.stderr, "1001") || r.stdout != "" {
		t.Fatalf("benchmark with an unknown user:\n%v", r)
	}
}

func TestBenchmarkRate(t *testing.T) {
	mustRun(t, "login,write", "-u", "960", "-p", "960", "-k", "rt", "-v", "x")
	const rate, n = 100, 40
	start := time.Now()
	rep, _ := benchJSON(t, cli.ExitOK, "benchmark", "read", "-u", "960", "-p", "960", "-k", "rt", "--rate", "100", "-c", "4", "-r", "10")
	wall := time.Since(start)
	// Request i is due at i/rate: the last one, n-1, not before 390 ms.
	min := time.Duration(n-1) * time.Second / rate
	if rep.Mode != "open" || rep.Rate != rate || rep.Success != n || rep.Duration < min || wall < min {
		t.Fatalf("open loop at %d/s: mode %s rate %v, %d ok, duration %v (wall %v), want >= %v", rate, rep.Mode, rep.Rate, rep.Success, rep.Duration, wall, min)
	}
	checkLatencies(t, rep)
}

func TestBenchmarkFailures(t *testing.T) {
	// A key never written: every read fails with the server's KEY_NOT_EXIST.
	r := etclient("benchmark", "read", "-u", "961", "-p", "961", "-k", "nope", "-c", "1", "-r", "5")
	if r.code != cli.ExitFailure || !regexp.MustCompile(`(?m)^failed KEY_NOT_EXIST\s+5$`).MatchString(r.stdout) ||
		r.stderr != "etclient: benchmark read: 5 failed requests exceed --max-failures 0\n" {
		t.Fatalf("benchmark of a missing key:\n%v", r)
	}
	// A wrong password stops the benchmark before the clock starts.
	r = etclient("benchmark", "read", "-u", "962", "-p", "wrong", "-k", "a")
	if r.code != cli.ExitFailure || r.stdout != "" || !strings.Contains(r.stderr, "INCORRECT_USERNAME_OR_PASSWORD") {
		t.Fatalf("benchmark with a wrong password:\n%v", r)
	}
}

// TestBenchmarkJSONStructure checks the real server's report against the golden file's
// structure: the same fields (the previous etclient's plus the added ones), and the server's
// quota refusals counted by code. User 1 may read 6 times a second (burst 1), so most of
// 100 back-to-back reads are refused.
func TestBenchmarkJSONStructure(t *testing.T) {
	rep, raw := benchJSON(t, cli.ExitOK, "benchmark", "read", "-u", "1", "-p", "1", "-k", "a", "-c", "4", "-r", "25", "--max-failures", "100")
	golden, err := os.ReadFile(filepath.Join("..", "cli", "testdata", "benchmark_read.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(golden, &want); err != nil {
		t.Fatal(err)
	}
	if got, w := slices.Sorted(maps.Keys(raw)), slices.Sorted(maps.Keys(want)); !slices.Equal(got, w) {
		t.Fatalf("report fields %v, golden %v", got, w)
	}
	if got, w := slices.Sorted(maps.Keys(raw["percentiles"].(map[string]any))), slices.Sorted(maps.Keys(want["percentiles"].(map[string]any))); !slices.Equal(got, w) {
		t.Fatalf("percentiles %v, golden %v", got, w)
	}
	limited := rep.FailuresByCode["RESOURCE_EXHAUSTED"]
	if rep.Success+rep.Failure != 100 || limited == 0 || rep.Failure != limited+rep.FailuresByCode["KEY_NOT_EXIST"] {
		t.Fatalf("report %+v", rep)
	}
}
