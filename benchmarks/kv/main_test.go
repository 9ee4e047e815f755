package kv_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/seed857a6cbd/pocket/benchmarks/kv"
)

// etserverBin is the etserver binary TestMain builds for every test and benchmark.
var etserverBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kvbench-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	etserverBin, err = kv.Build(context.Background(), dir)
	if err != nil {
		os.RemoveAll(dir)
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
