package domain

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Use errors.Is; they are wrapped with %w and a detail message.
var (
	// ErrIncorrectCredentials is returned by Login for an unknown user and for a wrong
	// password alike, so that usernames cannot be probed (kv CODE INCORRECT_USERNAME_OR_PASSWORD).
	ErrIncorrectCredentials = errors.New("domain: incorrect username or password")
	// ErrUnauthenticated is returned for an empty, malformed, unknown, forged or expired
	// token, and for a username that does not match the token's user.
	ErrUnauthenticated = errors.New("domain: unauthenticated")
	// ErrKeyNotExist is returned when a key is not in the user's namespace (kv CODE KEY_NOT_EXIST).
	ErrKeyNotExist = errors.New("domain: key does not exist")
	// ErrInvalidArgument is returned for a key or value outside its size limits, or a
	// malformed username; the wrapping message names the limit.
	ErrInvalidArgument = errors.New("domain: invalid argument")
	// ErrQuotaExceeded is matched by every *QuotaExceededError (rate limit or login throttle).
	ErrQuotaExceeded = errors.New("domain: quota exceeded")

	// ErrUserNotFound is returned by Accounts when no user has the username.
	ErrUserNotFound = errors.New("domain: user not found")
	// ErrUserExists is returned by Accounts.CreateUser when the username is taken.
	ErrUserExists = errors.New("domain: user already exists")
	// ErrSessionNotFound is returned by Sessions for an unknown or expired session id.
	ErrSessionNotFound = errors.New("domain: session not found")
	// ErrQuotaNotFound is returned by Quotas when a user has no quota row; the use cases
	// then apply the configured default quota.
	ErrQuotaNotFound = errors.New("domain: quota not found")
	// ErrMalformedHash is returned by VerifyPassword for a stored hash it cannot parse.
	ErrMalformedHash = errors.New("domain: malformed password hash")
)

// Op names the kind of call a quota applies to.
type Op string

// The operations quotas and the login throttle are kept for.
const (
	OpRead  Op = "read"
	OpWrite Op = "write"
	OpLogin Op = "login"
)

// QuotaExceededError is returned when a rate limit rejects a call. It matches
// ErrQuotaExceeded with errors.Is. RetryAfter is the time after which the same call would
// be allowed (the API layer sends it to the client as a retry hint).
//
// With Concurrent set the refusal is not a per-second limit but the server-wide bound on
// password checks running at once (app.Options.MaxConcurrentHashes): Limit is then that
// bound, and the call was refused because no check could start within the login wait.
type QuotaExceededError struct {
	Op         Op            // which limit: read, write or login
	Limit      int           // the limit in calls per second (Concurrent: checks at once)
	Concurrent bool          // refused by a concurrency bound, not a rate
	RetryAfter time.Duration // when to try again; always > 0
}

// Error implements error.
func (e *QuotaExceededError) Error() string {
	if e.Concurrent {
		return fmt.Sprintf("domain: quota exceeded: %s: all %d password-check slots busy, retry after %s", e.Op, e.Limit, e.RetryAfter)
	}
	return fmt.Sprintf("domain: quota exceeded: %s limit %d/s, retry after %s", e.Op, e.Limit, e.RetryAfter)
}

// Is reports whether target is ErrQuotaExceeded.
func (e *QuotaExceededError) Is(target error) bool { return target == ErrQuotaExceeded }
