package migrate_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/migrate"
)

func TestStatements(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"two", "CREATE TABLE a (x INT);\n\nCREATE TABLE b (y INT);\n", []string{"CREATE TABLE a (x INT)", "CREATE TABLE b (y INT)"}},
		{"multi-line and comments", "-- c\nCREATE TABLE a (\n  x INT\n);\n", []string{"CREATE TABLE a (\n  x INT\n)"}},
		{"no trailing semicolon", "SELECT 1", []string{"SELECT 1"}},
		{"empty", "\n-- only a comment\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := migrate.Statements(tc.body); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Statements = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestApplyOnceInOrder(t *testing.T) {
	db, err := sqlx.Open("sqlite", "file:"+t.TempDir()+"/m.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fsys := fstest.MapFS{
		"0002_b.sql": {Data: []byte("INSERT INTO a (x) VALUES (2);\n")},
		"0001_a.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS a (x INT);\nINSERT INTO a (x) VALUES (1);\n")},
		"README.md":  {Data: []byte("not a migration")},
	}
	ctx := context.Background()
	ran, err := migrate.Apply(ctx, db, fsys, migrate.SQLite)
	if err != nil || !reflect.DeepEqual(ran, []string{"0001_a", "0002_b"}) {
		t.Fatalf("Apply = %v %v", ran, err)
	}
	ran, err = migrate.Apply(ctx, db, fsys, migrate.SQLite)
	if err != nil || len(ran) != 0 {
		t.Fatalf("second Apply = %v %v", ran, err)
	}
	var xs []int
	if err := db.Select(&xs, "SELECT x FROM a ORDER BY x"); err != nil || !reflect.DeepEqual(xs, []int{1, 2}) {
		t.Fatalf("rows %v %v", xs, err)
	}
	bad := fstest.MapFS{"0003_bad.sql": {Data: []byte("NOT SQL;\n")}}
	if _, err := migrate.Apply(ctx, db, bad, migrate.SQLite); err == nil || !strings.Contains(err.Error(), "0003_bad.sql statement 1") {
		t.Fatalf("bad migration: %v", err)
	}
}

// FuzzStatements: splitting never panics and never yields an empty statement.
func FuzzStatements(f *testing.F) {
	f.Add("CREATE TABLE a (x INT);\n")
	f.Fuzz(func(t *testing.T, body string) {
		for _, s := range migrate.Statements(body) {
			if strings.TrimSpace(s) == "" {
				t.Fatalf("empty statement from %q", body)
			}
		}
	})
}
