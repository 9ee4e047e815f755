package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/testkit"
)

// TestMain lets the test binary act as etclient when POCKET_ETCLIENT_RUN_MAIN is set, so the
// tests below run the real main (flag parsing, stdout/stderr, os.Exit) in a child process;
// otherwise it runs the tests with the kit's leak check.
func TestMain(m *testing.M) {
	if os.Getenv("POCKET_ETCLIENT_RUN_MAIN") == "1" {
		os.Args = append([]string{"etclient"}, os.Args[1:]...)
		main()
		return
	}
	testkit.Main(m, nil)
}

func runMain(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "POCKET_ETCLIENT_RUN_MAIN=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestBinary(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"help", []string{"--help"}, 0, "etclient COMMAND [OPTIONS]", ""},
		{"benchmark read help", []string{"benchmark", "read", "--help"}, 0, "--concurrency value, -c value", ""},
		{"bad flag", []string{"login", "--bogus"}, 2, "", "etclient: flag provided but not defined: -bogus (see 'etclient login --help')\n"},
		{"server down", []string{"login,read", "-u", "1", "-p", "1", "--server", testkit.ClosedAddr(t)}, 1, "", "etclient: login failed: UNAVAILABLE: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runMain(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(stdout, tt.wantStdout) || (tt.wantStderr != "" || stderr != "") && !strings.HasPrefix(stderr, tt.wantStderr) || strings.Count(stderr, "\n") > 1 {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout, stderr, tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}
