package main

import (
	"testing"

	"github.com/seed857a6cbd/pocket/benchmarks/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }
