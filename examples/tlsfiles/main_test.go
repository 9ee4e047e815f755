package tlsfiles

import (
	"testing"

	"github.com/seed857a6cbd/pocket/examples/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }
