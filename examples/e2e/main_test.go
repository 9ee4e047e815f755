package e2e

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// binDir holds the commands, built by the first test that needs them
// (so that "go test -run Example ./..." builds nothing) and removed by
// TestMain.
var (
	binDir   string
	buildOut []byte
	buildErr error
	built    sync.Once
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "pocket-examples-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	// The tests mostly wait on throttled transfers: run four at a time
	// even on two cores, unless -parallel says otherwise.
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		_ = flag.Set("test.parallel", "4")
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: goleak:", err)
			return 1
		}
	}
	return code
}

// build builds every command of ../cmd into binDir, once.
func build(t *testing.T) {
	t.Helper()
	built.Do(func() {
		// The binaries are built without -race and without symbols to
		// save CPU (linking dominates on a loaded machine); the tests
		// themselves run under -race, and the packages the binaries use
		// are tested in-process under -race too.
		cmd := exec.Command("go", "build", "-buildvcs=false", "-ldflags=-s -w", "-o", binDir+string(filepath.Separator), "./cmd/...")
		cmd.Dir = ".."
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("building the commands: %v\n%s", buildErr, buildOut)
	}
}

// waitTimeout bounds every wait of these tests; generous, because the
// machine running them may be loaded.
const waitTimeout = 60 * time.Second

// proc is a running command.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	lines  chan string // stdout, line by line; closed at EOF
	stdout strings.Builder
	stderr lockedBuffer
	done   chan struct{} // closed when the process has been waited for
	err    error         // Wait's result, valid after done
	outMu  sync.Mutex
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs the built command name with args and stdin (may be nil). The
// process is killed at the end of the test if it still runs.
func start(t *testing.T, stdin io.Reader, name string, args ...string) *proc {
	t.Helper()
	build(t)
	p := &proc{t: t, name: name, lines: make(chan string, 64), done: make(chan struct{})}
	p.cmd = exec.Command(filepath.Join(binDir, name), args...)
	p.cmd.Stdin = stdin
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			p.outMu.Lock()
			p.stdout.WriteString(sc.Text() + "\n")
			p.outMu.Unlock()
			select {
			case p.lines <- sc.Text():
			default: // nobody is reading lines; stdout keeps them
			}
		}
		close(p.lines)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() || os.Getenv("E2E_LOG") != "" {
			t.Logf("%s %q stderr:\n%s", name, args, p.stderr.String())
		}
	})
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("%s: signal %v: %v", p.name, sig, err)
	}
}

// wait waits for the process to exit and returns its error (nil: status 0).
func (p *proc) wait() error {
	p.t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(waitTimeout):
		p.t.Fatalf("%s did not exit within %v; stderr:\n%s", p.name, waitTimeout, p.stderr.String())
		return nil
	}
}

// mustSucceed waits for a zero exit status and returns stdout.
func (p *proc) mustSucceed() string {
	p.t.Helper()
	if err := p.wait(); err != nil {
		p.t.Fatalf("%s: %v; stderr:\n%s", p.name, err, p.stderr.String())
	}
	p.outMu.Lock()
	defer p.outMu.Unlock()
	return p.stdout.String()
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// addrs reads the "NAME listening on ADDR" lines a server prints and
// returns the address of each name asked, in order.
func (p *proc) addrs(names ...string) []string {
	p.t.Helper()
	got := make(map[string]string)
	missing := func() bool {
		for _, n := range names {
			if got[n] == "" {
				return true
			}
		}
		return false
	}
	deadline := time.After(waitTimeout)
	for missing() {
		select {
		case line, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("%s exited before listening: %v; stderr:\n%s", p.name, p.wait(), p.stderr.String())
			}
			if name, addr, ok := strings.Cut(line, " listening on "); ok {
				got[name] = addr
			}
		case <-deadline:
			p.t.Fatalf("%s printed no address within %v; stderr:\n%s", p.name, waitTimeout, p.stderr.String())
		}
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = got[n]
	}
	return out
}

// waitUntil polls cond every few milliseconds until it holds, failing the
// test when while is false (the process it watches has ended) or after
// waitTimeout.
func waitUntil(t *testing.T, what string, cond func() bool, alive func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if alive != nil && !alive() {
			t.Fatalf("process ended before %s", what)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// fileSize returns the size of path, or -1 when it does not exist.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}
