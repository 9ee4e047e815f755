package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
	"github.com/seed857a6cbd/pocket/benchmarks/transport"
)

// TestRun runs a tiny matrix end to end: the test binary starts itself as the server and
// client processes, and the reports land in a temporary directory.
func TestRun(t *testing.T) {
	t.Setenv(childEnv, "1")
	out := t.TempDir()
	cfg := config{
		suites:       []string{suiteRPC, suiteTransport},
		frameworks:   []string{"grpc"},
		transports:   []string{"tcp"},
		modes:        []string{transport.ModeRR},
		payloads:     []int{64},
		concurrency:  []int{2},
		rrPayload:    64,
		smallPayload: 64,
		duration:     100 * time.Millisecond,
		out:          out,
	}
	var log bytes.Buffer
	if err := run(cfg, &log); err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "pinned") {
		t.Errorf("output does not say whether the processes are pinned:\n%s", log.String())
	}
	for _, suite := range []string{suiteRPC, suiteTransport} {
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
