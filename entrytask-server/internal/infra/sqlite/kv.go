package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
)

func unixNano(n int64) time.Time { return time.Unix(0, n) }

// Get implements domain.KV.
func (s *Store) Get(ctx context.Context, userID int64, key string) ([]byte, error) {
	var v []byte
	err := s.db.QueryRowContext(ctx, `SELECT v FROM kv WHERE user_id = ? AND k = ?`, userID, []byte(key)).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, domain.ErrKeyNotExist
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get: %w", err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// Put implements domain.KV: the row is committed (and, with synchronous FULL, fsynced)
// before it returns.
func (s *Store) Put(ctx context.Context, userID int64, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO kv (user_id, k, v) VALUES (?, ?, ?)
		ON CONFLICT (user_id, k) DO UPDATE SET v = excluded.v`, userID, []byte(key), value)
	if err != nil {
		return fmt.Errorf("sqlite: put: %w", err)
	}
	return nil
}

// Delete implements domain.KV.
func (s *Store) Delete(ctx context.Context, userID int64, key string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM kv WHERE user_id = ? AND k = ?`, userID, []byte(key))
	if err != nil {
		return fmt.Errorf("sqlite: delete: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: delete: %w", err)
	}
	if n == 0 {
		return domain.ErrKeyNotExist
	}
	return nil
}
