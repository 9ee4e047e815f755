// Package migrate applies embedded SQL migrations, in file-name order, once each. Every
// migration is written to be idempotent (CREATE TABLE IF NOT EXISTS …), and applied
// versions are recorded in schema_migrations, so running Apply again, or from two
// instances starting at once, is harmless.
package migrate

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Dialect selects the SQL spelling of the bookkeeping statements.
type Dialect int

// The supported dialects.
const (
	MySQL Dialect = iota
	SQLite
)

// Apply runs every *.sql file of fsys (its root) not yet recorded in schema_migrations and
// returns the versions (file names without .sql) it applied. Statements in a file are
// separated by a line ending in ";".
func Apply(ctx context.Context, db *sqlx.DB, fsys fs.FS, d Dialect) ([]string, error) {
	create := `CREATE TABLE IF NOT EXISTS schema_migrations (version VARCHAR(255) NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)`
	if _, err := db.ExecContext(ctx, create); err != nil {
		return nil, fmt.Errorf("migrate: creating schema_migrations: %w", err)
	}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("migrate: listing migrations: %w", err)
	}
	sort.Strings(names)
	var done []string
	if err := db.SelectContext(ctx, &done, `SELECT version FROM schema_migrations`); err != nil {
		return nil, fmt.Errorf("migrate: reading schema_migrations: %w", err)
	}
	applied := make(map[string]bool, len(done))
	for _, v := range done {
		applied[v] = true
	}
	insert := `INSERT IGNORE INTO schema_migrations (version, applied_at) VALUES (?, ?)`
	if d == SQLite {
		insert = `INSERT OR IGNORE INTO schema_migrations (version, applied_at) VALUES (?, ?)`
	}
	var ran []string
	for _, name := range names {
		version := strings.TrimSuffix(path.Base(name), ".sql")
		if applied[version] {
			continue
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return ran, fmt.Errorf("migrate: reading %s: %w", name, err)
		}
		for i, stmt := range Statements(string(body)) {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return ran, fmt.Errorf("migrate: %s statement %d: %w", name, i+1, err)
			}
		}
		if _, err := db.ExecContext(ctx, insert, version, time.Now().Unix()); err != nil {
			return ran, fmt.Errorf("migrate: recording %s: %w", version, err)
		}
		ran = append(ran, version)
	}
	return ran, nil
}

// Statements splits a migration file into statements: a statement ends with a line whose
// last non-blank character is ';'; empty statements are dropped. Lines starting with "--" are comments.
func Statements(body string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			if stmt := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(cur.String()), ";")); stmt != "" {
				out = append(out, stmt)
			}
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
