package httpadapter

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/seed857a6cbd/pocket/httpadapter/internal/testkit"
)

// net/http answers a request refused before its large body was read (503 server_busy, 413)
// and then lingers: it half-closes the connection and sleeps 500 ms before closing it, in a
// goroutine Server.Close does not wait for (TestHostileBodyBudgetRefusal ends in that
// window).
func TestMain(m *testing.M) {
	testkit.Main(m, nil, goleak.IgnoreAnyFunction("net/http.(*conn).closeWriteAndWait"))
}
