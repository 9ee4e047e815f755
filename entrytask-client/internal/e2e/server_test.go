package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
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
	steps := []struct {
		dir, out, pkg string
	}{
		{srvDir, b.etserver, "./cmd/etserver"},
		{"", b.etclient, etclientPkg},
	}
	errs := make(chan error, len(steps))
	for _, step := range steps {
		go func() {
			cmd := exec.CommandContext(ctx, "go", "build", "-o", step.out, step.pkg)
			cmd.Dir = step.dir
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("go build %s: %w\n%s", step.pkg, err, out)
				return
			}
			errs <- nil
		}()
	}
	var all []error
	for range steps {
		all = append(all, <-errs)
	}
	return b, errors.Join(all...)
}

// serverEnv is the environment of etserver: this process's minus any ETSERVER_* variable
// (so the developer's settings do not leak in), plus extra.
func serverEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETSERVER_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

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
	Addr string
	cmd  *exec.Cmd
	done chan error // the result of Wait, once stderr is drained

	mu  sync.Mutex
	log bytes.Buffer // everything it wrote to stderr
}

// startServer runs `etserver serve` on 127.0.0.1:0 with the embedded store in dataDir and
// returns once it has printed its RPC address. env adds ETSERVER_* settings (TLS).
func startServer(bin, dataDir string, env ...string) (*server, error) {
	s := &server{done: make(chan error, 1)}
	s.cmd = exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", dataDir)
	s.cmd.Env = serverEnv(env...)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.log.WriteString(line + "\n")
			s.mu.Unlock()
			if _, rest, ok := strings.Cut(line, listeningRecord); ok {
				a, _, _ := strings.Cut(rest, " ")
				select {
				case addr <- a:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		s.done <- s.cmd.Wait()
	}()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case s.Addr = <-addr:
		return s, nil
	case err := <-s.done:
		s.done <- err
		return nil, fmt.Errorf("etserver serve exited before listening (%v):\n%s", err, s.Log())
	case <-timer.C:
		_ = s.Stop()
		return nil, fmt.Errorf("etserver serve printed no %q record within %v:\n%s", listeningRecord, startTimeout, s.Log())
	}
}

// Log returns what the server wrote to stderr so far.
func (s *server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Stop sends SIGTERM and waits for a clean exit (SIGKILL after stopTimeout).
func (s *server) Stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case err := <-s.done:
		if err != nil {
			return fmt.Errorf("etserver serve: %w\n%s", err, s.Log())
		}
		return nil
	case <-timer.C:
		_ = s.cmd.Process.Kill()
		<-s.done
		return errors.New("etserver serve ignored SIGTERM for " + stopTimeout.String())
	}
}
