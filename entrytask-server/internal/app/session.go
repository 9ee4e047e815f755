package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
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
	sess, err := s.session(ctx, token)
	switch {
	case errors.Is(err, domain.ErrUnauthenticated):
		return Principal{}, err // a malformed token
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
		s.sessionCache.SessionsChanged([]string{p.SessionID})
	}
	return nil
}

// session looks token's session up through the session cache when it is on. Only found
// sessions are cached, so a malformed or unknown token always reaches the store.
func (s *Service) session(ctx context.Context, token string) (domain.Session, error) {
	if s.sessionCache != nil {
		if sess, ok := s.sessionCache.get(token); ok {
			return sess, nil
		}
	}
	tok, err := domain.ParseToken(token)
	if err != nil {
		return domain.Session{}, err
	}
	if s.sessionCache == nil {
		return s.sessions.SessionByID(ctx, tok.SessionID())
	}
	seq := s.sessionCache.begin()
	sess, err := s.sessions.SessionByID(ctx, tok.SessionID())
	if err == nil {
		s.sessionCache.put(token, sess, seq)
	}
	return sess, err
}

// WatchSessions keeps the session cache coherent with the session store until ctx ends,
// then returns ctx's error (see Options.SessionCacheWatch). It returns at once with an
// error when the cache is not in watched mode. Run it in its own goroutine.
func (s *Service) WatchSessions(ctx context.Context) error {
	if s.sessionCache == nil || !s.sessionCache.watched {
		return errors.New("app: WatchSessions needs Options.SessionCacheWatch")
	}
	return s.sessions.(domain.SessionWatcher).WatchSessions(ctx, s.sessionCache)
}
