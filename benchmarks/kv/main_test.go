package kv_test

import (
	"context"
	"os"
	"testing"

	"github.com/seed857a6cbd/pocket/benchmarks/internal/testkit"
	"github.com/seed857a6cbd/pocket/benchmarks/kv"
)

// etserverBin is the etserver binary TestMain builds for every test and benchmark.
var etserverBin string

func TestMain(m *testing.M) {
	testkit.Main(m, func() (func(bool) error, error) {
		dir, err := os.MkdirTemp("", "kvbench-bin-")
		if err != nil {
			return nil, err
		}
		if etserverBin, err = kv.Build(context.Background(), dir); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		return func(bool) error { return os.RemoveAll(dir) }, nil
	})
}
