package lbclient

import (
	"testing"

	"github.com/seed857a6cbd/pocket/lbclient/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }
