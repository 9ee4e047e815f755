package domain_test

import (
	"testing"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }
