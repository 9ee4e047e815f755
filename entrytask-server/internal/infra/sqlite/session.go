package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
)

// expiredSweep is how many expired sessions CreateSession removes at most, so the table
// does not grow without a background goroutine.
const expiredSweep = 64

// CreateSession implements domain.Sessions; it also removes a few expired sessions.
func (s *Store) CreateSession(ctx context.Context, sess domain.Session) error {
	now := s.now().UnixNano()
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at <= ? LIMIT ?)`, now, expiredSweep); err != nil {
		return fmt.Errorf("sqlite: sweeping sessions: %w", err)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (id, user_id, username, expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, username = excluded.username, expires_at = excluded.expires_at`,
		sess.ID, sess.UserID, sess.Username, sess.ExpiresAt.UnixNano())
	if err != nil {
		return fmt.Errorf("sqlite: creating session: %w", err)
	}
	return nil
}

// SessionByID implements domain.Sessions.
func (s *Store) SessionByID(ctx context.Context, id string) (domain.Session, error) {
	var r struct {
		UserID    int64  `db:"user_id"`
		Username  string `db:"username"`
		ExpiresAt int64  `db:"expires_at"`
	}
	err := s.db.GetContext(ctx, &r, `SELECT user_id, username, expires_at FROM sessions WHERE id = ? AND expires_at > ?`, id, s.now().UnixNano())
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Session{}, domain.ErrSessionNotFound
	}
	if err != nil {
		return domain.Session{}, fmt.Errorf("sqlite: session: %w", err)
	}
	return domain.Session{ID: id, UserID: r.UserID, Username: r.Username, ExpiresAt: unixNano(r.ExpiresAt)}, nil
}

// DeleteSession implements domain.Sessions.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id); err != nil {
		return fmt.Errorf("sqlite: deleting session: %w", err)
	}
	return nil
}
