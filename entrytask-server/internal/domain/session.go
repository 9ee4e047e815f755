package domain

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// TokenBytes is the size of a session token's random part (128 bits); its text form is
// TokenBytes*2 lowercase hex digits.
const TokenBytes = 16

// Token is a session token as handed to the client: 32 lowercase hex digits.
type Token string

// NewToken returns a fresh random 128-bit token from crypto/rand.
func NewToken() (Token, error) {
	var b [TokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("domain: reading random token: %w", err)
	}
	return Token(hex.EncodeToString(b[:])), nil
}

// ParseToken checks that s has the form of a token. Anything else (empty, wrong length,
// upper case or non-hex) returns ErrUnauthenticated, wrapped.
func ParseToken(s string) (Token, error) {
	if s == "" {
		return "", fmt.Errorf("%w: empty token", ErrUnauthenticated)
	}
	if len(s) != 2*TokenBytes {
		return "", fmt.Errorf("%w: token is %d characters, want %d", ErrUnauthenticated, len(s), 2*TokenBytes)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", fmt.Errorf("%w: token is not lowercase hex", ErrUnauthenticated)
		}
	}
	return Token(s), nil
}

// SessionID returns the id under which the token's session is stored: the hex SHA-256 of
// the token, so that a leaked session store does not reveal usable tokens.
func (t Token) SessionID() string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

// Session binds a session id (see Token.SessionID) to a user until ExpiresAt.
type Session struct {
	ID        string    // Token.SessionID of the client's token
	UserID    int64     // the user's id
	Username  string    // the user's name, to check the legacy `username` metadata
	ExpiresAt time.Time // stores forget the session at this instant
}

// Expired reports whether the session has expired at now.
func (s Session) Expired(now time.Time) bool { return !now.Before(s.ExpiresAt) }
