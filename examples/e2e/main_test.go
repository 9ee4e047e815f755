package e2e

import (
	"context"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/examples/internal/testkit"
)

// binDir holds the commands, built by the first test that needs them
// (so that "go test -run Example ./..." builds nothing) and removed after
// the tests.
var (
	binDir   string
	buildErr error
	built    sync.Once
)

func TestMain(m *testing.M) {
	testkit.Main(m, func() (func(bool) error, error) {
		dir, err := os.MkdirTemp("", "pocket-examples-bin-")
		if err != nil {
			return nil, err
		}
		binDir = dir
		// The tests mostly wait on throttled transfers: run four at a time
		// even on two cores, unless -parallel says otherwise.
		flag.Parse()
		parallelSet := false
		flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
		if !parallelSet {
			_ = flag.Set("test.parallel", "4")
		}
		return func(bool) error { return os.RemoveAll(dir) }, nil
	})
}

// build builds every command of ../cmd into binDir, once.
func build(t *testing.T) {
	t.Helper()
	built.Do(func() {
		// The binaries are built without -race and without symbols to
		// save CPU (linking dominates on a loaded machine); the tests
		// themselves run under -race, and the packages the binaries use
		// are tested in-process under -race too.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		buildErr = testkit.Build(ctx, "..", binDir+string(filepath.Separator), "./cmd/...", "-buildvcs=false", "-ldflags=-s -w")
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// waitTimeout bounds every wait of these tests; generous, because the
// machine running them may be loaded.
const waitTimeout = 60 * time.Second

// proc is a running command: the kit's process harness with the test and
// the command's name, so that its methods fail the test themselves.
type proc struct {
	*testkit.Proc
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stderr *testkit.Lines
}

// start runs the built command name with args and stdin (may be nil). The
// process is killed at the end of the test if it still runs, and its stderr
// logged if the test failed (or TESTKIT_LOG is set).
func start(t *testing.T, stdin io.Reader, name string, args ...string) *proc {
	t.Helper()
	build(t)
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Stdin = stdin
	p := testkit.Start(t, cmd)
	return &proc{Proc: p, t: t, name: name, cmd: cmd, stderr: &p.Stderr}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() { p.Kill() }

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.Signal(sig); err != nil {
		p.t.Fatalf("%s: signal %v: %v", p.name, sig, err)
	}
}

// wait waits for the process to exit and returns its error (nil: status 0).
func (p *proc) wait() error {
	p.t.Helper()
	select {
	case <-p.Done():
		return p.Err()
	case <-time.After(waitTimeout):
		p.t.Fatalf("%s did not exit within %v; stderr:\n%s", p.name, waitTimeout, p.Stderr.String())
		return nil
	}
}

// mustSucceed waits for a zero exit status and returns stdout.
func (p *proc) mustSucceed() string {
	p.t.Helper()
	if err := p.wait(); err != nil {
		p.t.Fatalf("%s: %v; stderr:\n%s", p.name, err, p.Stderr.String())
	}
	return p.Stdout.String()
}

// exited reports whether the process has ended.
func (p *proc) exited() bool { return p.Exited() }

// addrs reads the "NAME listening on ADDR" lines a server prints and
// returns the address of each name asked, in order.
func (p *proc) addrs(names ...string) []string {
	p.t.Helper()
	ctx := testkit.Context(p.t, waitTimeout)
	out := make([]string, len(names))
	for i, n := range names {
		m, err := p.WaitLine(ctx, &p.Stdout, regexp.MustCompile(`^`+regexp.QuoteMeta(n)+` listening on (.+)$`))
		if err != nil {
			p.t.Fatal(err)
		}
		out[i] = m[1]
	}
	return out
}

// running is part of a testkit.WaitFor condition: it fails the test once the
// process has ended, as nothing it was to do can happen any more.
func (p *proc) running() bool {
	p.t.Helper()
	if p.Exited() {
		p.t.Fatalf("%s ended (%v) while the test waited on it; stderr:\n%s", p.name, p.Err(), p.Stderr.String())
	}
	return true
}

// fileSize returns the size of path, or -1 when it does not exist.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}
