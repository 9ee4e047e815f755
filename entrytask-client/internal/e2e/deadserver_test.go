package e2e

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/cli"
)

// signalWriter collects what is written and closes ready once the text contains marker.
type signalWriter struct {
	marker string
	ready  chan struct{}

	mu   sync.Mutex
	buf  bytes.Buffer
	once sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.marker) {
		w.once.Do(func() { close(w.ready) })
	}
	return len(p), nil
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestBenchmarkServerKilled: an etserver process killed (SIGKILL) in the middle of a
// benchmark meant to run for a minute ends the run within 5 s with a clear message, the
// report of what was measured and exit 1; the dead server is reported about once a second
// rather than once per refused request.
func TestBenchmarkServerKilled(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if err := etserverRun(bins.etserver, "seed", "--insecure-fast-hashes", "--users", "1", "--data-dir", data); err != nil {
		t.Fatal(err)
	}
	srv, err := startServer(bins.etserver, data)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop() }()

	// The progress bar shows a rate once requests have been answered for a while: then
	// the run is under way.
	stderr := &signalWriter{marker: " req/s", ready: make(chan struct{})}
	var stdout bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(context.Background(), []string{"etclient", "benchmark", "read",
			"--server", srv.Addr, "-u", "1", "-p", "1", "-k", "dead", "-c", "8", "-d", "60s",
			"--max-failures", "1000000000"}, cli.Env{
			Stdout: &stdout, Stderr: stderr, IsTerminal: func() bool { return true },
		})
	}()
	select {
	case <-stderr.ready:
	case code := <-done:
		t.Fatalf("etclient ended (exit %d) before the server was killed:\n%s", code, stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("no progress within 20 s:\n%s", stderr.String())
	}
	if err := srv.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	var code int
	select {
	case code = <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("etclient still running 10 s after the server was killed:\n%s", stderr.String())
	}
	took := time.Since(killed)
	t.Logf("ended %v after the kill", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("etclient took %v to give up on a dead server, want at most 5 s", took)
	}
	errText := stderr.String()
	if code != cli.ExitFailure || !strings.Contains(errText, "etclient: benchmark read stopped early (--max-conn-failures 8): bench: server unreachable: 8 attempts in a row failed, the last: ") {
		t.Fatalf("exit %d, stderr:\n%s", code, errText)
	}
	if n := strings.Count(errText, "etclient: server unreachable"); n < 1 || n > 5 {
		t.Errorf("%d outage reports in %v, want about one a second:\n%s", n, took, errText)
	}
	out := stdout.String()
	if !strings.Contains(out, "stopped early") || !strings.Contains(out, "failed UNAVAILABLE") {
		t.Fatalf("report:\n%s", out)
	}
	// Not hundreds of thousands of refused requests: a round of -c at most per attempt,
	// plus those in flight at the kill.
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "failed" && f[1] == "UNAVAILABLE" && len(f[2]) > 3 {
			t.Errorf("%s: more than 999 refused requests", line)
		}
	}
}
