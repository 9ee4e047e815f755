package httpadapter

import (
	"testing"

	"github.com/seed857a6cbd/pocket/httpadapter/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }
