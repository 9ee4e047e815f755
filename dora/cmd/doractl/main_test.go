package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain runs doractl itself when a test executes this binary as doractl (a real process,
// without a separate build), and the tests otherwise.
func TestMain(m *testing.M) {
	if os.Getenv("DORACTL_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}
