package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
)

func writeReport(t *testing.T, dir, suite string, rows []harness.Result) {
	t.Helper()
	rep := harness.Report{Date: time.Date(2026, 11, 21, 17, 0, 0, 0, time.UTC), Command: "rpcbench --short", GoVersion: "go1.26.8", CPUs: 2, CPUModel: "test", Pinned: true, Warmup: "2s", Duration: "3s", Results: rows}
	if _, _, err := harness.SaveReport(dir, suite, rep); err != nil {
		t.Fatal(err)
	}
}

func TestRender(t *testing.T) {
	dir := t.TempDir()
	var rpcRows, trRows []harness.Result
	for i, fw := range []string{"grpc", "arpc"} {
		for _, n := range []int{1, 16, 100} {
			rpcRows = append(rpcRows, harness.Result{Suite: "rpc", Mode: "unary", Framework: fw, Payload: 1024, Concurrency: n, CallsPerSecond: float64(1000 * n * (i + 1)), P99Micros: float64(100 * n), ClientCPUPercent: 50, ServerCPUPercent: 50})
		}
	}
	for _, tr := range []string{"tcp", "yamux"} {
		trRows = append(trRows,
			harness.Result{Suite: "transport", Mode: "rr", Framework: tr, Payload: 1024, Concurrency: 1, CallsPerSecond: 10000, P99Micros: 50, ClientCPUPercent: 80, ServerCPUPercent: 80},
			harness.Result{Suite: "transport", Mode: "rr", Framework: tr, Payload: 1024, Concurrency: 16, CallsPerSecond: 40000, P99Micros: 500, ClientCPUPercent: 90, ServerCPUPercent: 90},
			harness.Result{Suite: "transport", Mode: "bulk", Framework: tr, Payload: 65536, Concurrency: 1, MBPerSecond: 900},
			harness.Result{Suite: "transport", Mode: "mixed", Framework: tr, Payload: 64, Concurrency: 1, P99Micros: 2000},
		)
	}
	trRows = append(trRows, harness.Result{Suite: "transport", Mode: "rr", Framework: "smux", Payload: 1024, Concurrency: 16, Note: "rpcbench: client: boom"})
	for i := range rpcRows {
		if rpcRows[i].Framework == "grpc" && rpcRows[i].Concurrency == 100 {
			rpcRows[i].Runs, rpcRows[i].CallsPerSecondMin, rpcRows[i].CallsPerSecondMax = 3, 95000, 105000
		}
	}
	writeReport(t, dir, "rpc", rpcRows)
	writeReport(t, dir, "transport", trRows)

	files, err := render(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"rpc-throughput-1024.svg", "rpc-p99-1024.svg", "rpc-percpu-1024.svg", "transport-rr-throughput.svg", "transport-rr-p99.svg", "transport-rr-percpu.svg", "transport-bulk.svg", "transport-mixed-p99.svg", "summary.md"}
	for _, name := range want {
		if png, ok := strings.CutSuffix(name, ".svg"); ok {
			want = append(want, png+".png") // a PNG next to every SVG
		}
	}
	if len(files) != len(want) {
		t.Errorf("wrote %v, want %v", files, want)
	}
	for _, name := range want {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Error(err)
			continue
		}
		if strings.HasSuffix(name, ".svg") && !strings.Contains(string(b), "<svg") {
			t.Errorf("%s is not an SVG", name)
		}
		if strings.HasSuffix(name, ".png") && !strings.HasPrefix(string(b), "\x89PNG") {
			t.Errorf("%s is not a PNG", name)
		}
	}
	sum, err := os.ReadFile(filepath.Join(dir, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"| 16 | arpc | 32000 | 2.00× | 32000 | 2.00× |", "| 100 | grpc | 100000 ±5% |", "**dora** | pending", "**nap** | pending", "smux rr 1024 B ×16: rpcbench: client: boom"} {
		if !strings.Contains(string(sum), s) {
			t.Errorf("summary.md lacks %q:\n%s", s, sum)
		}
	}
}

func TestRenderNothing(t *testing.T) {
	if _, err := render(t.TempDir()); err == nil || !strings.HasPrefix(err.Error(), "charts: ") {
		t.Errorf("render of an empty dir = %v, want a charts error", err)
	}
}

func TestSummaryGoals(t *testing.T) {
	unary := func(fw string, size, n int, calls, p99 float64) harness.Result {
		return harness.Result{Suite: "rpc", Mode: "unary", Framework: fw, Payload: size, Concurrency: n, CallsPerSecond: calls, P99Micros: p99, ClientCPUPercent: 50, ServerCPUPercent: 50}
	}
	tests := []struct {
		name    string
		reports map[string]harness.Report
		want    []string
		notWant []string
	}{
		{
			name: "dora and nap",
			reports: map[string]harness.Report{
				"rpc": {Results: []harness.Result{unary("grpc", 1024, 100, 1000, 400), unary("arpc", 1024, 100, 2000, 100), unary("dora", 1024, 100, 3000, 100)}},
				"transport": {Results: []harness.Result{
					{Mode: "bulk", Framework: "tcp", Payload: 65536, Concurrency: 1, MBPerSecond: 1000, CallsPerSecond: 1, ClientCPUPercent: 50, ServerCPUPercent: 50},
					{Mode: "bulk", Framework: "nap", Payload: 65536, Concurrency: 1, MBPerSecond: 900, CallsPerSecond: 1, ClientCPUPercent: 50, ServerCPUPercent: 50},
				}},
			},
			want:    []string{"| dora / grpc, 1 KiB, 100 callers | 3.00× | 3.00× | 0.25× |", "| dora / arpc, 1 KiB, 100 callers | 1.50× | 1.50× | 1.00× |", "| nap / tcp, bulk MB/s | 0.90× |"},
			notWant: []string{"pending"},
		},
		{
			name: "dora against kitex in every cell both ran",
			reports: map[string]harness.Report{
				"rpc": {Results: []harness.Result{
					unary("dora", 65536, 16, 3000, 100), unary("kitex", 65536, 16, 2000, 200), unary("kitex-mux", 65536, 16, 6000, 50),
					unary("dora", 0, 1, 1000, 10), unary("kitex", 0, 1, 1000, 10),
				}},
			},
			want: []string{"| dora / kitex, 64 KiB, 16 callers | 1.50× | 1.50× | 0.50× |", "| dora / kitex-mux, 64 KiB, 16 callers | 0.50× | 0.50× | 2.00× |",
				"| dora / kitex, 0 B, 1 callers | 1.00× |"},
			notWant: []string{"dora / kitex-mux, 0 B"},
		},
		{
			name: "iip suite is against nethttp",
			reports: map[string]harness.Report{
				"iip": {Results: []harness.Result{unary("nethttp", 14410, 16, 1000, 400), unary("iip-balanced", 14410, 16, 4000, 100)}},
			},
			want:    []string{"| 16 | iip-balanced | 4000 | 4.00× |", "| iip-balanced / nethttp, 14410 B, 16 callers | 4.00× | 4.00× | 0.25× |"},
			notWant: []string{"pending"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum := summary(tt.reports)
			for _, s := range tt.want {
				if !strings.Contains(sum, s) {
					t.Errorf("summary lacks %q:\n%s", s, sum)
				}
			}
			for _, s := range tt.notWant {
				if strings.Contains(sum, s) {
					t.Errorf("summary has %q:\n%s", s, sum)
				}
			}
		})
	}
}

func TestRenderKV(t *testing.T) {
	dir := t.TempDir()
	var rows []harness.Result
	for _, op := range []string{"read", "write"} {
		for i, fw := range []string{"etserver", "grpc"} {
			for _, n := range []int{1, 12, 100} {
				rows = append(rows, harness.Result{Suite: "kv", Mode: op, Framework: fw, Payload: 2000, Concurrency: n,
					CallsPerSecond: float64(1000 * n * (2 - i)), P99Micros: float64(100 * n), ClientCPUPercent: 50, ServerCPUPercent: 50})
			}
		}
	}
	rows = append(rows, harness.Result{Suite: "kv", Mode: "write", Framework: "grpc", Payload: 2000, Concurrency: 1000, Note: "rpcbench: client: quota"})
	rep := harness.Report{Date: time.Date(2026, 11, 21, 17, 0, 0, 0, time.UTC), Command: "rpcbench --suites kv", GoVersion: "go1.26.8",
		CPUs: 2, CPUModel: "test", Pinned: true, Warmup: "2s", Duration: "3s", Store: "mysql+redis", Results: rows}
	if _, _, err := harness.SaveReport(dir, "kv", rep); err != nil {
		t.Fatal(err)
	}
	files, err := render(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"kv-read-throughput.svg", "kv-read-p99.svg", "kv-read-percpu.svg", "kv-write-throughput.svg", "kv-write-p99.svg", "kv-write-percpu.svg", "summary.md"}
	if len(files) != 2*len(want)-1 { // and a PNG per SVG
		t.Errorf("wrote %v, want %v", files, want)
	}
	sum, err := os.ReadFile(filepath.Join(dir, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Store: mysql+redis.", "### read, 2000 B values", "| 12 | etserver | 24000 | 2.00× | 24000 | 2.00× |", "| 1000 | grpc | failed: rpcbench: client: quota |"} {
		if !strings.Contains(string(sum), s) {
			t.Errorf("summary.md lacks %q:\n%s", s, sum)
		}
	}
}
