package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/repotest"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/sqlite"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

func open(t *testing.T, dir string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: dir})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func stores(s *sqlite.Store) repotest.Stores {
	return repotest.Stores{Accounts: s, Quotas: s, Sessions: s, KV: s}
}

func TestRepository(t *testing.T) {
	repotest.Run(t, repotest.Backend{
		Open: func(t *testing.T) repotest.Stores {
			dir := t.TempDir()
			s := open(t, dir)
			t.Cleanup(func() { s.Close() })
			return stores(s)
		},
		Reopen: func(t *testing.T, old repotest.Stores) repotest.Stores {
			st := old.KV.(*sqlite.Store)
			if err := st.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			s := open(t, filepath.Dir(st.Path()))
			t.Cleanup(func() { s.Close() })
			return stores(s)
		},
	})
}
