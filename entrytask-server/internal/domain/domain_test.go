package domain_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
)

var cheap = domain.PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}

func TestPasswordRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		password string
		params   domain.PasswordParams
	}{
		{"fixture cost", "123", domain.FixturePasswordParams},
		{"other cost", "pässwörd", domain.PasswordParams{Time: 2, MemoryKiB: 128, Threads: 2}},
		{"empty password", "", cheap},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := domain.HashPassword(tc.password, tc.params)
			if err != nil {
				t.Fatal(err)
			}
			got, err := domain.PasswordHashParams(h)
			if err != nil || got != tc.params {
				t.Fatalf("hash %s records %+v %v, want %+v", h, got, err, tc.params)
			}
			if ok, err := domain.VerifyPassword(h, tc.password); !ok || err != nil {
				t.Fatalf("right password: %v %v", ok, err)
			}
			if ok, err := domain.VerifyPassword(h, tc.password+"x"); ok || err != nil {
				t.Fatalf("wrong password: %v %v", ok, err)
			}
			h2, _ := domain.HashPassword(tc.password, tc.params)
			if h == h2 {
				t.Fatal("two hashes of one password are equal: salt is not random")
			}
		})
	}
}

func TestPasswordDefaults(t *testing.T) {
	h, err := domain.HashPassword("x", domain.PasswordParams{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$", domain.DefaultPasswordMemoryKiB, domain.DefaultPasswordTime, domain.DefaultPasswordThreads)) {
		t.Fatalf("default hash %s", h)
	}
}

func TestVerifyBcrypt(t *testing.T) {
	h, err := bcrypt.GenerateFromPassword([]byte("legacy"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := domain.VerifyPassword(string(h), "legacy"); !ok || err != nil {
		t.Fatalf("bcrypt right password: %v %v", ok, err)
	}
	if ok, err := domain.VerifyPassword(string(h), "nope"); ok || err != nil {
		t.Fatalf("bcrypt wrong password: %v %v", ok, err)
	}
}

func TestVerifyMalformedHash(t *testing.T) {
	tests := []struct{ name, hash string }{
		{"empty", ""},
		{"not phc", "plaintext"},
		{"wrong algorithm", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5"},
		{"wrong version", "$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5"},
		{"zero time", "$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5"},
		{"huge memory", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5"},
		{"bad salt", "$argon2id$v=19$m=64,t=1,p=1$!!!$a2V5a2V5a2V5a2V5a2V5a2V5"},
		{"short key", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5"},
		{"broken bcrypt", "$2a$04$short"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := domain.VerifyPassword(tc.hash, "x")
			if ok || !errors.Is(err, domain.ErrMalformedHash) {
				t.Fatalf("VerifyPassword(%q) = %v, %v; want ErrMalformedHash", tc.hash, ok, err)
			}
		})
	}
}

func TestPasswordLimits(t *testing.T) {
	if _, err := domain.HashPassword(strings.Repeat("p", domain.MaxPasswordBytes+1), cheap); !errors.Is(err, domain.ErrInvalidArgument) {
		t.Fatalf("long password: %v", err)
	}
	h, _ := domain.HashPassword("p", cheap)
	if ok, err := domain.VerifyPassword(h, strings.Repeat("p", domain.MaxPasswordBytes+1)); ok || err != nil {
		t.Fatalf("verifying a too long password: %v %v", ok, err)
	}
	if err := (domain.PasswordParams{MemoryKiB: domain.MaxPasswordMemoryKiB + 1}).Validate(); !errors.Is(err, domain.ErrInvalidArgument) {
		t.Fatalf("huge memory: %v", err)
	}
}

func TestToken(t *testing.T) {
	a, err := domain.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := domain.NewToken()
	if a == b || len(a) != 32 {
		t.Fatalf("tokens %q %q", a, b)
	}
	if _, err := domain.ParseToken(string(a)); err != nil {
		t.Fatalf("ParseToken(new token): %v", err)
	}
	if id := a.SessionID(); id == string(a) || len(id) != 64 || id != domain.Token(string(a)).SessionID() || id == b.SessionID() {
		t.Fatalf("SessionID %q", a.SessionID())
	}
	bad := []struct{ name, tok string }{
		{"empty", ""},
		{"short", "abc"},
		{"upper case", strings.ToUpper(string(a))},
		{"non hex", strings.Repeat("g", 32)},
		{"long", string(a) + "0"},
		{"sql", "' OR 1=1 --                     "},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := domain.ParseToken(tc.tok); !errors.Is(err, domain.ErrUnauthenticated) {
				t.Fatalf("ParseToken(%q) = %v, want ErrUnauthenticated", tc.tok, err)
			}
		})
	}
}

func TestSessionExpired(t *testing.T) {
	now := time.Unix(100, 0)
	s := domain.Session{ExpiresAt: now}
	if !s.Expired(now) || s.Expired(now.Add(-time.Nanosecond)) {
		t.Fatal("Expired is wrong at the boundary")
	}
}

func TestSeededQuota(t *testing.T) {
	tests := []struct {
		uid  int64
		want domain.Quota
	}{
		{1, domain.Quota{Read: 6, Write: 4}},
		{10, domain.Quota{Read: 33, Write: 13}},
		{33332, domain.Quota{Read: 99999, Write: 33335}},
		{33333, domain.Quota{Read: 100000, Write: 33336}},
		{99997, domain.Quota{Read: 100000, Write: 100000}},
		{1000000, domain.Quota{Read: 100000, Write: 100000}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.uid), func(t *testing.T) {
			if got := domain.SeededQuota(tc.uid); got != tc.want {
				t.Fatalf("SeededQuota(%d) = %+v, want %+v", tc.uid, got, tc.want)
			}
			if err := tc.want.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestBurst(t *testing.T) {
	for q, want := range map[int]int{1: 1, 9: 1, 10: 1, 19: 1, 20: 2, 100000: 10000} {
		if got := domain.Burst(q); got != want {
			t.Errorf("Burst(%d) = %d, want %d", q, got, want)
		}
	}
}

func TestQuotaFor(t *testing.T) {
	q := domain.Quota{Read: 3, Write: 4}
	if q.For(domain.OpRead) != 3 || q.For(domain.OpWrite) != 4 || q.For(domain.OpLogin) != 0 {
		t.Fatal("Quota.For")
	}
	for _, bad := range []domain.Quota{{Read: 0, Write: 1}, {Read: 1, Write: 0}, {Read: 100001, Write: 1}, {Read: 1, Write: -1}} {
		if err := bad.Validate(); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Errorf("Validate(%+v) = %v", bad, err)
		}
	}
}

func TestKeyValueLimits(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		value   []byte
		limit   int
		wantErr string // "" means valid
	}{
		{"smallest key", "k", nil, 0, ""},
		{"longest key", strings.Repeat("k", 4096), nil, 0, ""},
		{"empty key", "", nil, 0, "key is empty, minimum 1 byte"},
		{"long key", strings.Repeat("k", 4097), nil, 0, "key is 4097 bytes, limit 4096"},
		{"default limit", "k", make([]byte, 1<<20), 0, ""},
		{"over default limit", "k", make([]byte, 1<<20+1), 0, "value is 1048577 bytes, limit 1048576"},
		{"configured limit", "k", make([]byte, 2001), 2000, "value is 2001 bytes, limit 2000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := domain.ValidateKey(tc.key)
			if err == nil {
				err = domain.ValidateValue(tc.value, tc.limit)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, domain.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want ErrInvalidArgument containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestValidateUsername(t *testing.T) {
	tests := []struct {
		name, username string
		ok             bool
	}{
		{"numeric", "123", true},
		{"unicode", "Zoë", true},
		{"empty", "", false},
		{"too long", strings.Repeat("u", domain.MaxUsernameBytes+1), false},
		{"invalid utf8", "\xff", false},
		{"NUL", "a\x00b", false},
		{"newline", "a\nb", false},
		{"DEL", "a\x7f", false},
		{"C1 control", "a\u0085", false},
		{"space and punctuation", "Ann O'Neil-2", true},
		{"longest", strings.Repeat("u", domain.MaxUsernameBytes), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := domain.ValidateUsername(tc.username)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, domain.ErrInvalidArgument)) {
				t.Fatalf("ValidateUsername(%q) = %v", tc.username, err)
			}
		})
	}
}

func TestQuotaExceededError(t *testing.T) {
	var err error = fmt.Errorf("wrapped: %w", &domain.QuotaExceededError{Op: domain.OpRead, Limit: 6, RetryAfter: 150 * time.Millisecond})
	if !errors.Is(err, domain.ErrQuotaExceeded) {
		t.Fatal("not ErrQuotaExceeded")
	}
	var qe *domain.QuotaExceededError
	if !errors.As(err, &qe) || qe.RetryAfter != 150*time.Millisecond {
		t.Fatal("errors.As")
	}
	if !strings.Contains(err.Error(), "read limit 6/s, retry after 150ms") {
		t.Fatal(err)
	}
	busy := &domain.QuotaExceededError{Op: domain.OpLogin, Limit: 4, Concurrent: true, RetryAfter: time.Second}
	if !errors.Is(busy, domain.ErrQuotaExceeded) || !strings.Contains(busy.Error(), "login: all 4 password-check slots busy, retry after 1s") {
		t.Fatalf("concurrency refusal: %v", busy)
	}
}

func BenchmarkVerifyPasswordFixture(b *testing.B) {
	h, _ := domain.HashPassword("123", domain.FixturePasswordParams)
	b.ReportAllocs()
	for b.Loop() {
		domain.VerifyPassword(h, "123")
	}
}

func BenchmarkParseToken(b *testing.B) {
	tok, _ := domain.NewToken()
	b.ReportAllocs()
	for b.Loop() {
		t, _ := domain.ParseToken(string(tok))
		_ = t.SessionID()
	}
}

func TestHashNeedsUpgrade(t *testing.T) {
	want := domain.PasswordParams{Time: 2, MemoryKiB: 64, Threads: 1}
	hash := func(p domain.PasswordParams) string {
		h, err := domain.HashPassword("pw", p)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	legacy, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	cases := []struct {
		name string
		hash string
		want bool
	}{
		{"fixture", hash(domain.FixturePasswordParams), true},
		{"less memory", hash(domain.PasswordParams{Time: 2, MemoryKiB: 32, Threads: 1}), true},
		{"fewer passes", hash(domain.PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}), true},
		{"same", hash(want), false},
		{"stronger", hash(domain.PasswordParams{Time: 3, MemoryKiB: 128, Threads: 1}), false},
		{"more threads, same cost", hash(domain.PasswordParams{Time: 2, MemoryKiB: 64, Threads: 2}), false},
		{"bcrypt", string(legacy), true},
		{"garbage", "nope", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := domain.HashNeedsUpgrade(tc.hash, want); got != tc.want {
				t.Fatalf("HashNeedsUpgrade = %v, want %v", got, tc.want)
			}
		})
	}
	if domain.HashNeedsUpgrade(hash(domain.PasswordParams{}), domain.PasswordParams{}) {
		t.Fatal("a hash at the defaults needs an upgrade to the defaults")
	}
}

func TestValidatePassword(t *testing.T) {
	cases := []struct {
		name, pw, want string
	}{
		{"empty", "", "password is empty"},
		{"short", "1234567", "at least 8"},
		{"short in characters", "ääää", "at least 8"},
		{"long", strings.Repeat("p", domain.MaxPasswordBytes+1), "limit 1024"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := domain.ValidatePassword(tc.pw)
			if !errors.Is(err, domain.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ValidatePassword: %v, want %q", err, tc.want)
			}
		})
	}
	if err := domain.ValidatePassword("12345678"); err != nil {
		t.Fatal(err)
	}
}
