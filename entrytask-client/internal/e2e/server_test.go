package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/testkit"
)

// Module paths of the binaries the tests build.
const (
	etserverPkg = "github.com/seed857a6cbd/pocket/entrytask-server"
	etclientPkg = "github.com/seed857a6cbd/pocket/entrytask-client/cmd/etclient"
)

// listeningRecord is in the log record `etserver serve` writes to stderr (text format)
// once its listeners are bound, followed by the RPC address (cmd/etserver/serve.go in
// entrytask-server): "time=… level=INFO msg=listening addr=127.0.0.1:PORT admin=…".
const listeningRecord = " msg=listening addr="

// Bounds of the server's life cycle in tests.
const (
	buildTimeout = 5 * time.Minute
	startTimeout = 30 * time.Second
	stopTimeout  = 15 * time.Second
)

// binaries are the programs built once by TestMain.
type binaries struct {
	etserver, etclient string
}

// build compiles etserver (in its own module, so its dependencies need not be in this
// module's go.sum) and etclient into dir.
func build(dir string) (binaries, error) {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	b := binaries{etserver: filepath.Join(dir, "etserver"), etclient: filepath.Join(dir, "etclient")}
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", etserverPkg).Output()
	if err != nil {
		return b, fmt.Errorf("locating %s: %w", etserverPkg, err)
	}
	srvDir := strings.TrimSpace(string(out))
	errs := make(chan error, 2)
	go func() { errs <- testkit.Build(ctx, srvDir, b.etserver, "./cmd/etserver") }()
	go func() { errs <- testkit.Build(ctx, "", b.etclient, etclientPkg) }()
	return b, errors.Join(<-errs, <-errs)
}

// serverEnv is the environment of etserver: this process's minus any ETSERVER_* variable
// (so the developer's settings do not leak in), plus extra.
func serverEnv(extra ...string) []string { return testkit.EnvWithout("ETSERVER_", extra...) }

// etserverRun runs one etserver command to completion (seed, certs).
func etserverRun(bin string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = serverEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("etserver %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// server is a running `etserver serve`.
type server struct {
	*testkit.Proc
	Addr string
}

// listeningLine matches the record `etserver serve` writes once its listeners are bound.
var listeningLine = regexp.MustCompile(regexp.QuoteMeta(listeningRecord) + `(\S+)`)

// startServer runs `etserver serve` on 127.0.0.1:0 with the embedded store in dataDir and
// returns once it has printed its RPC address. env adds ETSERVER_* settings (TLS).
func startServer(bin, dataDir string, env ...string) (*server, error) {
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", dataDir)
	cmd.Env = serverEnv(env...)
	p, err := testkit.StartProc(cmd)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	m, err := p.WaitLine(ctx, &p.Stderr, listeningLine)
	if err != nil {
		p.Kill()
		return nil, err
	}
	return &server{Proc: p, Addr: m[1]}, nil
}

// Log returns what the server wrote to stderr so far.
func (s *server) Log() string { return s.Stderr.String() }

// Stop sends SIGTERM and waits for a clean exit (SIGKILL after stopTimeout).
func (s *server) Stop() error { return s.Proc.Stop(stopTimeout) }
