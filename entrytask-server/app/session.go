package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/domain"
)

// Principal is the authenticated caller of a Read, Write or Delete.
type Principal struct {
	UserID    int64
	Username  string
	SessionID string    // the stored session's id (Token.SessionID), for Logout
	ExpiresAt time.Time // when the session ends
}

// Authenticate resolves the token sent in request metadata `token` to its user. username
// is the legacy `username` metadata: when non-empty it must be the token's user.
// An empty, malformed, unknown, forged or expired token, or a mismatched username, returns
// ErrUnauthenticated (wrapped with the reason, which is safe to log but need not be shown).
func (s *Service) Authenticate(ctx context.Context, token, username string) (Principal, error) {
	tok, err := domain.ParseToken(token)
	if err != nil {
		return Principal{}, err
	}
	sess, err := s.session(ctx, tok.SessionID())
	switch {
	case errors.Is(err, domain.ErrSessionNotFound):
		return Principal{}, fmt.Errorf("%w: unknown or expired token", domain.ErrUnauthenticated)
	case err != nil:
		return Principal{}, fmt.Errorf("app: looking up session: %w", err)
	}
	if sess.Expired(s.now()) {
		return Principal{}, fmt.Errorf("%w: token expired", domain.ErrUnauthenticated)
	}
	if username != "" && username != sess.Username {
		return Principal{}, fmt.Errorf("%w: username does not match the token", domain.ErrUnauthenticated)
	}
	return Principal{UserID: sess.UserID, Username: sess.Username, SessionID: sess.ID, ExpiresAt: sess.ExpiresAt}, nil
}

// Logout authenticates token (as Authenticate, with no username) and ends its session; the
// token is then Unauthenticated everywhere.
func (s *Service) Logout(ctx context.Context, token string) error {
	p, err := s.Authenticate(ctx, token, "")
	if err != nil {
		return err
	}
	if err := s.sessions.DeleteSession(ctx, p.SessionID); err != nil {
		return fmt.Errorf("app: deleting session: %w", err)
	}
	if s.sessionCache != nil {
		s.sessionCache.Delete(p.SessionID)
	}
	return nil
}

// session looks id up through the session cache when it is on. Only found sessions are
// cached, so an unknown token always reaches the store.
func (s *Service) session(ctx context.Context, id string) (domain.Session, error) {
	if s.sessionCache == nil {
		return s.sessions.SessionByID(ctx, id)
	}
	if sess, ok := s.sessionCache.Get(id); ok {
		return sess, nil
	}
	sess, err := s.sessions.SessionByID(ctx, id)
	if err == nil {
		s.sessionCache.Set(id, sess)
	}
	return sess, err
}
