package main

import (
	"os"
	"testing"

	"github.com/seed857a6cbd/pocket/benchmarks/internal/testkit"
)

// childEnv makes the test binary act as rpcbench itself, so TestRun can start it as the
// server and client processes.
const childEnv = "RPCBENCH_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main()
		os.Exit(0)
	}
	testkit.Main(m, nil)
}
