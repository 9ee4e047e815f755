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

// Login checks the username and password and opens a session. Its steps, cheapest first,
// so that what a peer sends costs it more than it costs the server:
//
//  1. The username is validated (domain.ValidateUsername: 1..255 bytes of UTF-8, no control
//     characters) and the password's length (at most domain.MaxPasswordBytes) before
//     anything else: a failure is ErrInvalidArgument naming the rule, and nothing is
//     built from the input (no throttle key, no lookup).
//  2. The per-username throttle (LoginRate/LoginBurst) counts failed attempts only: a
//     username whose bucket is empty is refused at once with a *domain.QuotaExceededError
//     (Op login, RetryAfter when the next attempt is allowed). Successful logins take no
//     token, so many workers of one user may log in at once.
//  3. The user is looked up; an unknown username is checked against a dummy hash of the
//     configured cost, so both cases cost the same and return the very same
//     ErrIncorrectCredentials.
//  4. The password check (argon2id: tens of MiB and milliseconds of CPU each) runs only
//     within the server-wide bound MaxConcurrentHashes. A login that finds every slot busy
//     waits up to HashWait, then gets a *domain.QuotaExceededError with Concurrent set and
//     RetryAfter = HashWait. Once it has a slot the throttle is consulted again, so
//     concurrent wrong guesses on one username overshoot its burst by at most the number
//     of slots.
//  5. A failed check takes a token from the username's bucket.
func (s *Service) Login(ctx context.Context, username, password string) (LoginResult, error) {
	if err := domain.ValidateUsername(username); err != nil {
		return LoginResult{}, err
	}
	if len(password) > domain.MaxPasswordBytes {
		return LoginResult{}, fmt.Errorf("%w: password is %d bytes, limit %d", domain.ErrInvalidArgument, len(password), domain.MaxPasswordBytes)
	}
	key := "login:" + username // validated: at most 6+255 bytes
	if err := s.loginAllowed(ctx, key); err != nil {
		return LoginResult{}, err
	}
	hash, known := s.dummyHash, false
	user, err := s.accounts.UserByUsername(ctx, username)
	switch {
	case err == nil:
		hash, known = user.PasswordHash, true
	case errors.Is(err, domain.ErrUserNotFound):
	default:
		return LoginResult{}, fmt.Errorf("app: looking up user: %w", err)
	}
	ok, err := s.checkPassword(ctx, key, hash, password)
	if err != nil {
		return LoginResult{}, fmt.Errorf("app: user %d: %w", user.ID, err)
	}
	if !ok || !known {
		// Count the failure. The answer is ErrIncorrectCredentials whatever the bucket
		// says: this attempt has been made; the next one is refused when it is empty.
		if _, err := s.limiter.Allow(ctx, key, s.loginLimit); err != nil {
			return LoginResult{}, fmt.Errorf("app: login throttle: %w", err)
		}
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

// loginAllowed returns a login QuotaExceededError when the username's bucket of failed
// attempts is empty.
func (s *Service) loginAllowed(ctx context.Context, key string) error {
	d, err := s.limiter.Peek(ctx, key, s.loginLimit)
	if err != nil {
		return fmt.Errorf("app: login throttle: %w", err)
	}
	if !d.Allowed {
		return &domain.QuotaExceededError{Op: domain.OpLogin, Limit: s.loginLimit.Rate, RetryAfter: d.RetryAfter}
	}
	return nil
}

// checkPassword verifies password against hash in one of the MaxConcurrentHashes slots,
// waiting at most hashWait for one, and consults the throttle of key again once it holds
// it (attempts that failed while this one waited count).
func (s *Service) checkPassword(ctx context.Context, key, hash, password string) (bool, error) {
	select {
	case s.hashSlots <- struct{}{}:
	default:
		t := time.NewTimer(s.hashWait)
		select {
		case s.hashSlots <- struct{}{}:
			t.Stop()
		case <-t.C:
			return false, &domain.QuotaExceededError{Op: domain.OpLogin, Limit: cap(s.hashSlots), Concurrent: true, RetryAfter: s.hashWait}
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		}
	}
	defer func() { <-s.hashSlots }()
	if s.hashHook != nil {
		s.hashHook()
	}
	if err := s.loginAllowed(ctx, key); err != nil {
		return false, err
	}
	return domain.VerifyPassword(hash, password)
}
