package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/cli"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/testkit"
)

// seededUsers is how many users `etserver seed` creates for the shared server. A seeded user
// uid may read 3·uid+3 and write uid+3 times per second (burst a tenth of that), and log in
// 5 times per second (burst 10), so tests that send more than a few requests use users in
// the high hundreds, and each test uses users of its own.
const seededUsers = 1000

// Set by TestMain.
var (
	bins   binaries
	shared *server // etserver on the embedded store, seeded with seededUsers users
	tmp    string  // removed after the tests
)

func TestMain(m *testing.M) { testkit.Main(m, setup) }

// setup builds the binaries and starts the shared server; its teardown stops the server
// (printing its log when a test failed) and removes tmp.
func setup() (func(failed bool) error, error) {
	var err error
	tmp, err = os.MkdirTemp("", "etclient-e2e-")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (func(bool) error, error) {
		os.RemoveAll(tmp)
		return nil, err
	}
	if bins, err = build(tmp); err != nil {
		return fail(fmt.Errorf("building the binaries: %w", err))
	}
	data := filepath.Join(tmp, "data")
	if err := etserverRun(bins.etserver, "seed", "--insecure-fast-hashes", "--users", fmt.Sprint(seededUsers), "--data-dir", data); err != nil {
		return fail(err)
	}
	if shared, err = startServer(bins.etserver, data); err != nil {
		return fail(err)
	}
	return func(failed bool) error {
		defer os.RemoveAll(tmp)
		if failed {
			fmt.Fprintf(os.Stderr, "e2e: etserver log:\n%s", shared.Log())
		}
		if err := shared.Stop(); err != nil {
			return fmt.Errorf("stopping etserver: %w", err)
		}
		return nil
	}, nil
}

// result is one etclient run.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// etclient runs the etclient command line in process (with the real dora transport)
// against the shared server, unless args name a --server of their own.
func etclient(args ...string) result {
	hasServer := false
	for _, a := range args {
		if a == "--server" || strings.HasPrefix(a, "--server=") {
			hasServer = true
		}
	}
	if !hasServer {
		args = append(args, "--server", shared.Addr)
	}
	return etclientArgs(args...)
}

// etclientArgs runs the etclient command line in process with exactly args.
func etclientArgs(args ...string) result {
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), append([]string{"etclient"}, args...), cli.Env{
		Stdout:     &out,
		Stderr:     &errb,
		IsTerminal: func() bool { return false },
	})
	return result{code, out.String(), errb.String()}
}

// mustRun runs etclient and fails the test unless it exits 0.
func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := etclient(args...)
	if r.code != cli.ExitOK {
		t.Fatalf("etclient %s:\n%v", strings.Join(args, " "), r)
	}
	return r
}
