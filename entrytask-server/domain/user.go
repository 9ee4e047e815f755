package domain

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// MaxUsernameBytes is the longest username accepted (the accounts column holds 255 characters).
const MaxUsernameBytes = 255

// User is an account: a unique username and the hash of its password.
type User struct {
	ID           int64     // store-assigned, > 0
	Username     string    // unique, case-sensitive, 1..MaxUsernameBytes bytes of UTF-8
	PasswordHash string    // PHC string (argon2id) or bcrypt hash; records its own cost
	CreatedAt    time.Time // set by the store
	UpdatedAt    time.Time // set by the store
}

// NewAccount is an account to create: a user and, optionally, its quota.
type NewAccount struct {
	Username     string
	PasswordHash string
	Quota        *Quota // nil: no quota row, the configured default applies
}

// ValidateUsername returns ErrInvalidArgument (wrapped, naming the limit) for an empty,
// too long or non-UTF-8 username.
func ValidateUsername(username string) error {
	switch {
	case username == "":
		return fmt.Errorf("%w: username is empty", ErrInvalidArgument)
	case len(username) > MaxUsernameBytes:
		return fmt.Errorf("%w: username is %d bytes, limit %d", ErrInvalidArgument, len(username), MaxUsernameBytes)
	case !utf8.ValidString(username):
		return fmt.Errorf("%w: username is not valid UTF-8", ErrInvalidArgument)
	}
	return nil
}
