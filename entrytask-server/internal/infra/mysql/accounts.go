package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
)

var errNoRows = sql.ErrNoRows

// insertQuotas inserts the quotas of accounts that carry one, looking the user ids up by
// username inside tx. onConflict is the dialect's "keep the existing row" clause.
func insertQuotas(ctx context.Context, tx *sqlx.Tx, accounts []domain.NewAccount, onConflict string) error {
	byName := make(map[string]*domain.Quota, len(accounts))
	names := make([]string, 0, len(accounts))
	for _, a := range accounts {
		if a.Quota != nil {
			byName[a.Username] = a.Quota
			names = append(names, a.Username)
		}
	}
	if len(names) == 0 {
		return nil
	}
	q, args, err := sqlx.In(`SELECT id, username FROM users WHERE username IN (?)`, names)
	if err != nil {
		return err
	}
	var rows []struct {
		ID       int64  `db:"id"`
		Username string `db:"username"`
	}
	if err := tx.SelectContext(ctx, &rows, tx.Rebind(q), args...); err != nil {
		return fmt.Errorf("looking up user ids: %w", err)
	}
	if len(rows) == 0 {
		return nil
	}
	var b strings.Builder
	vals := make([]any, 0, 3*len(rows))
	b.WriteString(`INSERT INTO quota (user_id, read_qps, write_qps) VALUES `)
	for i, r := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?)")
		qt := byName[r.Username]
		vals = append(vals, r.ID, qt.Read, qt.Write)
	}
	b.WriteByte(' ')
	b.WriteString(onConflict)
	if _, err := tx.ExecContext(ctx, b.String(), vals...); err != nil {
		return fmt.Errorf("inserting %d quotas: %w", len(rows), err)
	}
	return nil
}

func existingUsernames(ctx context.Context, db *sqlx.DB, usernames []string) (map[string]bool, error) {
	out := make(map[string]bool)
	if len(usernames) == 0 {
		return out, nil
	}
	q, args, err := sqlx.In(`SELECT username FROM users WHERE username IN (?)`, usernames)
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	var names []string
	if err := db.SelectContext(ctx, &names, db.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("mysql: existing usernames: %w", err)
	}
	for _, n := range names {
		out[n] = true
	}
	return out, nil
}
