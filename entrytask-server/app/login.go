package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/domain"
)

// LoginResult is what a successful Login returns.
type LoginResult struct {
	Token     string    // 32 lowercase hex digits (128 random bits); send it as metadata `token`
	UserID    int64     // the user's id
	ExpiresAt time.Time // the session ends then (now + SessionTTL)
}

// Login checks the username and password and opens a session.
//
// Unknown users and wrong passwords both return ErrIncorrectCredentials, after the same
// amount of work: an unknown (or malformed) username is checked against a dummy hash of the
// configured cost. Attempts are throttled per username before anything is looked up; over
// the limit Login returns a *domain.QuotaExceededError (Op login) matching ErrQuotaExceeded.
func (s *Service) Login(ctx context.Context, username, password string) (LoginResult, error) {
	d, err := s.limiter.Allow(ctx, "login:"+username, s.loginLimit)
	if err != nil {
		return LoginResult{}, fmt.Errorf("app: login throttle: %w", err)
	}
	if !d.Allowed {
		return LoginResult{}, &domain.QuotaExceededError{Op: domain.OpLogin, Limit: s.loginLimit.Rate, RetryAfter: d.RetryAfter}
	}
	var user domain.User
	hash := s.dummyHash
	known := false
	if domain.ValidateUsername(username) == nil {
		user, err = s.accounts.UserByUsername(ctx, username)
		switch {
		case err == nil:
			hash, known = user.PasswordHash, true
		case errors.Is(err, domain.ErrUserNotFound):
		default:
			return LoginResult{}, fmt.Errorf("app: looking up user: %w", err)
		}
	}
	ok, err := domain.VerifyPassword(hash, password)
	if err != nil {
		return LoginResult{}, fmt.Errorf("app: user %d: %w", user.ID, err)
	}
	if !ok || !known {
		return LoginResult{}, domain.ErrIncorrectCredentials
	}
	tok, err := domain.NewToken()
	if err != nil {
		return LoginResult{}, err
	}
	expires := s.now().Add(s.sessionTTL)
	if err := s.sessions.CreateSession(ctx, domain.Session{ID: tok.SessionID(), UserID: user.ID, Username: user.Username, ExpiresAt: expires}); err != nil {
		return LoginResult{}, fmt.Errorf("app: creating session: %w", err)
	}
	return LoginResult{Token: string(tok), UserID: user.ID, ExpiresAt: expires}, nil
}
