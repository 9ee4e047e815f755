package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
)

// Account management: the use cases behind `etserver user ...`. Every password they store
// is hashed at the Service's PasswordParams (never below it), in one of the
// MaxConcurrentHashes password-check slots that logins use, so a burst of account changes
// cannot take more memory than a burst of logins.

// Account is what ListUsers and the other account use cases report about a user. It
// never carries the password hash itself, only its cost.
type Account struct {
	ID         int64
	Username   string
	Quota      domain.Quota          // the user's quota row, or the configured default
	QuotaSet   bool                  // the user has a quota row of its own
	HashParams domain.PasswordParams // the stored hash's argon2id cost (zero for bcrypt)
	Outdated   bool                  // the stored hash costs less than PasswordParams
}

// DefaultListLimit is the page size of ListUsers when limit is 0, and MaxListLimit the
// largest page it returns.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// AddUser creates an account with password hashed at the configured cost. The username
// must pass domain.ValidateUsername and the password domain.ValidatePassword (at least
// domain.MinPasswordChars characters, at most domain.MaxPasswordBytes bytes); a failure
// is ErrInvalidArgument naming the rule. A taken username is ErrUserExists. quota, when
// not nil, becomes the user's quota row (validated first).
func (s *Service) AddUser(ctx context.Context, username, password string, quota *domain.Quota) (Account, error) {
	if err := domain.ValidateUsername(username); err != nil {
		return Account{}, err
	}
	if err := domain.ValidatePassword(password); err != nil {
		return Account{}, err
	}
	if quota != nil {
		if err := quota.Validate(); err != nil {
			return Account{}, err
		}
	}
	h, err := s.hashNew(ctx, password)
	if err != nil {
		return Account{}, err
	}
	u, err := s.accounts.CreateUser(ctx, username, h)
	if err != nil {
		return Account{}, err
	}
	if quota != nil {
		if err := s.quotas.SetQuota(ctx, u.ID, *quota); err != nil {
			return Account{}, fmt.Errorf("app: setting quota of new user %d: %w", u.ID, err)
		}
	}
	return s.account(ctx, u)
}

// ChangePassword replaces the user's password with password hashed at the configured
// cost (validated as for AddUser). Sessions already open stay open.
func (s *Service) ChangePassword(ctx context.Context, username, password string) (Account, error) {
	if err := domain.ValidateUsername(username); err != nil {
		return Account{}, err
	}
	if err := domain.ValidatePassword(password); err != nil {
		return Account{}, err
	}
	u, err := s.accounts.UserByUsername(ctx, username)
	if err != nil {
		return Account{}, err
	}
	h, err := s.hashNew(ctx, password)
	if err != nil {
		return Account{}, err
	}
	if _, err := s.accounts.UpdatePasswordHash(ctx, u.ID, "", h); err != nil {
		return Account{}, err
	}
	u.PasswordHash = h
	return s.account(ctx, u)
}

// DeleteUser removes the account and its quota row, or returns ErrUserNotFound. Its key/
// value pairs stay in the store, unreachable; sessions already open stay valid until they
// expire or log out (the session store is keyed by token only).
func (s *Service) DeleteUser(ctx context.Context, username string) (Account, error) {
	if err := domain.ValidateUsername(username); err != nil {
		return Account{}, err
	}
	u, err := s.accounts.DeleteUser(ctx, username)
	if err != nil {
		return Account{}, err
	}
	s.InvalidateQuota(u.ID)
	return Account{ID: u.ID, Username: u.Username}, nil
}

// SetUserQuota gives the user a quota row of its own (validated: both rates > 0). It
// applies on this Service at once and on other instances within their quota cache TTL.
func (s *Service) SetUserQuota(ctx context.Context, username string, q domain.Quota) (Account, error) {
	if err := domain.ValidateUsername(username); err != nil {
		return Account{}, err
	}
	if err := q.Validate(); err != nil {
		return Account{}, err
	}
	u, err := s.accounts.UserByUsername(ctx, username)
	if err != nil {
		return Account{}, err
	}
	if err := s.quotas.SetQuota(ctx, u.ID, q); err != nil {
		return Account{}, err
	}
	s.InvalidateQuota(u.ID)
	return s.account(ctx, u)
}

// ListUsers returns a page of accounts whose usernames sort after `after` (byte order; ""
// for the first page). limit 0 means DefaultListLimit; more than MaxListLimit is
// ErrInvalidArgument. The next page starts after the last username returned.
func (s *Service) ListUsers(ctx context.Context, after string, limit int) ([]Account, error) {
	switch {
	case limit == 0:
		limit = DefaultListLimit
	case limit < 0 || limit > MaxListLimit:
		return nil, fmt.Errorf("%w: limit %d is not in 1..%d", domain.ErrInvalidArgument, limit, MaxListLimit)
	case len(after) > domain.MaxUsernameBytes:
		return nil, fmt.Errorf("%w: after is %d bytes, limit %d", domain.ErrInvalidArgument, len(after), domain.MaxUsernameBytes)
	}
	users, err := s.accounts.ListUsers(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Account, 0, len(users))
	for _, u := range users {
		a, err := s.account(ctx, u)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// account describes u (its quota from the store, not the cache).
func (s *Service) account(ctx context.Context, u domain.User) (Account, error) {
	a := Account{ID: u.ID, Username: u.Username, Quota: s.defaultQuota, Outdated: domain.HashNeedsUpgrade(u.PasswordHash, s.passwordParams)}
	a.HashParams, _ = domain.PasswordHashParams(u.PasswordHash)
	q, err := s.quotas.QuotaOf(ctx, u.ID)
	switch {
	case err == nil:
		a.Quota, a.QuotaSet = q, true
	case !errors.Is(err, domain.ErrQuotaNotFound):
		return Account{}, fmt.Errorf("app: quota of user %d: %w", u.ID, err)
	}
	return a, nil
}

// hashNew hashes a new password at the configured cost in a password-check slot.
func (s *Service) hashNew(ctx context.Context, password string) (string, error) {
	if err := s.acquireHashSlot(ctx); err != nil {
		return "", err
	}
	defer s.releaseHashSlot()
	return domain.HashPassword(password, s.passwordParams)
}
