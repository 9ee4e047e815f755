package domain_test

import (
	"errors"
	"testing"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
)

// FuzzParseToken: any string is either a well-formed token or ErrUnauthenticated; never a panic.
func FuzzParseToken(f *testing.F) {
	f.Add("0123456789abcdef0123456789abcdef")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := domain.ParseToken(s)
		if err != nil {
			if !errors.Is(err, domain.ErrUnauthenticated) {
				t.Fatalf("ParseToken(%q): %v is not ErrUnauthenticated", s, err)
			}
			return
		}
		if string(tok) != s || len(tok.SessionID()) != 64 {
			t.Fatalf("ParseToken(%q) = %q", s, tok)
		}
	})
}

// FuzzPasswordHashParams: any stored hash either parses to parameters within bounds or is
// ErrMalformedHash; never a panic nor an unbounded memory parameter.
func FuzzPasswordHashParams(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5")
	f.Add("$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5")
	f.Fuzz(func(t *testing.T, h string) {
		p, err := domain.PasswordHashParams(h)
		if err != nil {
			if !errors.Is(err, domain.ErrMalformedHash) {
				t.Fatalf("PasswordHashParams(%q): %v is not ErrMalformedHash", h, err)
			}
			return
		}
		if p.Time == 0 || p.Threads == 0 || p.MemoryKiB > domain.MaxPasswordMemoryKiB {
			t.Fatalf("PasswordHashParams(%q) = %+v out of bounds", h, p)
		}
	})
}
