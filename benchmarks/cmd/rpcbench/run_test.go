package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
	"github.com/seed857a6cbd/pocket/benchmarks/kv"
	"github.com/seed857a6cbd/pocket/benchmarks/transport"
)

// TestRun runs a tiny matrix end to end: run builds the node binaries of grpc, iip and
// tcp and starts them as the server and client processes, and the reports land in a
// temporary directory.
func TestRun(t *testing.T) {
	out := t.TempDir()
	cfg := config{
		suites:       []string{suiteRPC, suiteTransport, suiteIIP},
		frameworks:   []string{"grpc"},
		iipFrames:    []string{"iip-balanced"},
		iipPayload:   64,
		transports:   []string{"tcp"},
		modes:        []string{transport.ModeRR},
		payloads:     []int{64},
		concurrency:  []int{2},
		rrPayload:    64,
		smallPayload: 64,
		duration:     100 * time.Millisecond,
		out:          out,
		count:        1,
	}
	var log bytes.Buffer
	if err := run(cfg, &log); err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "pinned") {
		t.Errorf("output does not say whether the processes are pinned:\n%s", log.String())
	}
	if !strings.Contains(log.String(), "grpc node-grpc, tcp node-tcp, iip-balanced node-iip") {
		t.Errorf("output does not say which node binary runs which implementation:\n%s", log.String())
	}
	for _, suite := range []string{suiteRPC, suiteTransport, suiteIIP} {
		f, err := os.Open(filepath.Join(out, suite+".json"))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := harness.ReadJSON(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Results) != 1 {
			t.Fatalf("%s: %d results, want 1", suite, len(rep.Results))
		}
		r := rep.Results[0]
		if r.Note != "" {
			t.Errorf("%s: cell failed: %s\n%s", suite, r.Note, log.String())
		}
		if r.WindowSeconds <= 0 {
			t.Errorf("%s: no measured window in %+v", suite, r)
		}
		if _, err := os.Stat(filepath.Join(out, suite+".csv")); err != nil {
			t.Error(err)
		}
	}
}

// TestRunKV runs the kv suite end to end on the embedded store: run builds etserver, the
// server process starts it on a store it seeds, the client logs in and reads.
func TestRunKV(t *testing.T) {
	out := t.TempDir()
	cfg := config{
		suites: []string{suiteKV},
		// Long enough for the first reads of a fresh embedded store on a loaded CI box: a
		// 30 ms window once completed no call there (the server pinned to a busy core).
		duration: 500 * time.Millisecond,
		out:      out,
		count:    1,
		kv: kvConfig{frameworks: defaultKVFrameworks, ops: []string{kv.OpRead}, concurrency: []int{2},
			value: kv.DefaultValue, user: testKVUser},
	}
	var log bytes.Buffer
	if err := run(cfg, &log); err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	f, err := os.Open(filepath.Join(out, suiteKV+".json"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := harness.ReadJSON(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if rep.Store != kv.ModeEmbedded {
		t.Errorf("report store = %q, want %q", rep.Store, kv.ModeEmbedded)
	}
	if len(rep.Results) != len(defaultKVFrameworks) {
		t.Fatalf("%d results, want one per client:\n%s", len(rep.Results), log.String())
	}
	for _, r := range rep.Results {
		if r.Note != "" || r.Calls == 0 || r.Payload != kv.DefaultValue || r.Mode != kv.OpRead {
			t.Errorf("%s: %+v\n%s", r.Framework, r, log.String())
		}
	}
}

func TestMedian(t *testing.T) {
	row := func(cps float64, note string) harness.Result {
		return harness.Result{Framework: "grpc", CallsPerSecond: cps, Note: note}
	}
	tests := []struct {
		name     string
		runs     []harness.Result
		want     float64
		wantRuns int
		wantNote bool
	}{
		{name: "one", runs: []harness.Result{row(5, "")}, want: 5, wantRuns: 1},
		{name: "three", runs: []harness.Result{row(9, ""), row(3, ""), row(5, "")}, want: 5, wantRuns: 3},
		{name: "even takes the lower middle", runs: []harness.Result{row(9, ""), row(3, "")}, want: 3, wantRuns: 2},
		{name: "failures skipped", runs: []harness.Result{row(0, "boom"), row(7, ""), row(4, "")}, want: 4, wantRuns: 2},
		{name: "all failed", runs: []harness.Result{row(0, "boom"), row(0, "bang")}, wantNote: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := median(tc.runs)
			if tc.wantNote {
				if got.Note == "" {
					t.Errorf("median of failures = %+v, want a note", got)
				}
				return
			}
			if got.CallsPerSecond != tc.want || got.Runs != tc.wantRuns {
				t.Errorf("median = %v calls/s over %d runs, want %v over %d", got.CallsPerSecond, got.Runs, tc.want, tc.wantRuns)
			}
		})
	}
}
