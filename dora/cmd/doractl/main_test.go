package main

import (
	"os"
	"testing"

	"github.com/seed857a6cbd/pocket/dora/cmd/doractl/internal/testkit"
)

// TestMain runs doractl itself when a test executes this binary as doractl (a real process,
// without a separate build), and the tests otherwise.
func TestMain(m *testing.M) {
	if os.Getenv("DORACTL_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	testkit.Main(m, nil)
}
