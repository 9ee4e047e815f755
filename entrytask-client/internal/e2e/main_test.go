package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/cli"
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

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	var err error
	tmp, err = os.MkdirTemp("", "etclient-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if bins, err = build(tmp); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the binaries:", err)
		return 1
	}
	data := filepath.Join(tmp, "data")
	if err := etserverRun(bins.etserver, "seed", "--insecure-fast-hashes", "--users", fmt.Sprint(seededUsers), "--data-dir", data); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if shared, err = startServer(bins.etserver, data); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	code := m.Run()
	if err := shared.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: stopping etserver:", err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: goleak:", err)
			code = 1
		}
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "e2e: etserver log:\n%s", shared.Log())
	}
	return code
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
