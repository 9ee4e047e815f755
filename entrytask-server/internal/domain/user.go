package domain

import (
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxUsernameBytes is the longest username accepted (the accounts column holds 255 characters).
const MaxUsernameBytes = 255

// MinPasswordChars is the shortest password (in characters) `etserver user add` and
// `user passwd` accept: 8, NIST SP 800-63B's minimum for a chosen password.
const MinPasswordChars = 8

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

// ValidatePassword returns ErrInvalidArgument (wrapped, naming the rule) for a password
// an account may not be given: empty, longer than MaxPasswordBytes, or shorter than
// MinPasswordChars characters. Only new and changed passwords are checked; Login accepts any password
// up to MaxPasswordBytes, so accounts seeded with short passwords keep logging in.
func ValidatePassword(password string) error {
	switch {
	case password == "":
		return fmt.Errorf("%w: password is empty", ErrInvalidArgument)
	case len(password) > MaxPasswordBytes:
		return fmt.Errorf("%w: password is %d bytes, limit %d", ErrInvalidArgument, len(password), MaxPasswordBytes)
	case utf8.RuneCountInString(password) < MinPasswordChars:
		return fmt.Errorf("%w: password is %d characters, at least %d required", ErrInvalidArgument, utf8.RuneCountInString(password), MinPasswordChars)
	}
	return nil
}

// ValidateUsername returns ErrInvalidArgument (wrapped, naming the rule) for an empty
// username, one longer than MaxUsernameBytes, one that is not valid UTF-8, or one holding
// a control character (Unicode category Cc: C0, DEL, C1). The length is checked first, so
// the work is bounded by MaxUsernameBytes whatever the peer sent; Login calls it before
// anything else, and usernames that fail it never name an account.
func ValidateUsername(username string) error {
	switch {
	case username == "":
		return fmt.Errorf("%w: username is empty", ErrInvalidArgument)
	case len(username) > MaxUsernameBytes:
		return fmt.Errorf("%w: username is %d bytes, limit %d", ErrInvalidArgument, len(username), MaxUsernameBytes)
	case !utf8.ValidString(username):
		return fmt.Errorf("%w: username is not valid UTF-8", ErrInvalidArgument)
	}
	for _, r := range username {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: username holds control character %U", ErrInvalidArgument, r)
		}
	}
	return nil
}
