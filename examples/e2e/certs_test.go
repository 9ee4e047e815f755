package e2e

import (
	"testing"

	"github.com/seed857a6cbd/pocket/examples/internal/testkit"
)

// certFiles are a test CA with a server certificate for 127.0.0.1 and a client certificate,
// in memory (the embedded PKI) and as PEM files (f).
type certFiles struct {
	*testkit.PKI
	f testkit.Files
}

func newCerts(t *testing.T) *certFiles {
	t.Helper()
	p := testkit.NewPKI(t, "examples test CA")
	return &certFiles{PKI: p, f: p.WriteFiles(t, "")}
}
