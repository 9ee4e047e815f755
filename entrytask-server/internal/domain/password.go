package domain

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// PasswordParams are the argon2id cost parameters of a new password hash. Every hash
// records its own parameters (PHC string format), so changing them affects new hashes
// only and old ones keep verifying.
type PasswordParams struct {
	Time      uint32 // passes over memory; 0 means DefaultPasswordTime
	MemoryKiB uint32 // memory in KiB; 0 means DefaultPasswordMemoryKiB
	Threads   uint8  // parallelism; 0 means DefaultPasswordThreads
}

// Argon2id defaults for accounts (the OWASP minimum recommendation: 19 MiB, 2 passes, 1
// lane) and the cheapest argon2id parameters, which `etserver seed --insecure-fast-hashes`
// uses so that a million benchmark users (whose password is their username anyway) can be
// created in minutes. Fixture hashes are only for test data: about 12,700 guesses per
// second per core, against about 6 at the default cost. A login that succeeds with a
// fixture hash replaces it with one of the configured cost (see HashNeedsUpgrade).
const (
	DefaultPasswordTime      = 2
	DefaultPasswordMemoryKiB = 19 * 1024
	DefaultPasswordThreads   = 1

	FixturePasswordTime      = 1
	FixturePasswordMemoryKiB = 8 // argon2id's minimum for one lane
	FixturePasswordThreads   = 1

	// MaxPasswordMemoryKiB bounds the memory a stored hash may ask for (1 GiB), so a
	// corrupted row cannot make a login allocate without limit.
	MaxPasswordMemoryKiB = 1 << 20
	// MaxPasswordBytes is the longest password accepted; longer ones never verify.
	MaxPasswordBytes = 1024

	passwordSaltBytes = 16
	passwordKeyBytes  = 32
)

// FixturePasswordParams are the cheap parameters used for seeded benchmark users.
var FixturePasswordParams = PasswordParams{Time: FixturePasswordTime, MemoryKiB: FixturePasswordMemoryKiB, Threads: FixturePasswordThreads}

func (p PasswordParams) withDefaults() PasswordParams {
	if p.Time == 0 {
		p.Time = DefaultPasswordTime
	}
	if p.MemoryKiB == 0 {
		p.MemoryKiB = DefaultPasswordMemoryKiB
	}
	if p.Threads == 0 {
		p.Threads = DefaultPasswordThreads
	}
	return p
}

// WithDefaults returns p with its zero fields replaced by the domain defaults
// (DefaultPasswordTime, DefaultPasswordMemoryKiB, DefaultPasswordThreads).
func (p PasswordParams) WithDefaults() PasswordParams { return p.withDefaults() }

// String formats p as the PHC parameter segment, e.g. "m=19456,t=2,p=1".
func (p PasswordParams) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.MemoryKiB, p.Time, p.Threads)
}

// HashNeedsUpgrade reports whether hash costs less than want (zero fields of want take
// their defaults): a bcrypt hash, an argon2id hash with less memory or fewer passes than
// want, or a hash that cannot be parsed. Login rehashes such a password with want after
// checking it, and `etserver user` commands never write one.
func HashNeedsUpgrade(hash string, want PasswordParams) bool {
	want = want.withDefaults()
	p, _, _, err := parseArgon2id(hash)
	if err != nil {
		return true
	}
	return p.MemoryKiB < want.MemoryKiB || p.Time < want.Time
}

// Validate reports parameters argon2id cannot use or that exceed MaxPasswordMemoryKiB.
func (p PasswordParams) Validate() error {
	p = p.withDefaults()
	if p.MemoryKiB < 8*uint32(p.Threads) {
		return fmt.Errorf("%w: password memory %d KiB is below 8 KiB per thread", ErrInvalidArgument, p.MemoryKiB)
	}
	if p.MemoryKiB > MaxPasswordMemoryKiB {
		return fmt.Errorf("%w: password memory %d KiB exceeds limit %d KiB", ErrInvalidArgument, p.MemoryKiB, MaxPasswordMemoryKiB)
	}
	return nil
}

// HashPassword derives an argon2id hash of password with a random 128-bit salt and returns
// it in the PHC string format: $argon2id$v=19$m=<KiB>,t=<time>,p=<threads>$<salt>$<key>.
// Zero fields of p take their defaults.
func HashPassword(password string, p PasswordParams) (string, error) {
	p = p.withDefaults()
	if err := p.Validate(); err != nil {
		return "", err
	}
	if len(password) > MaxPasswordBytes {
		return "", fmt.Errorf("%w: password is %d bytes, limit %d", ErrInvalidArgument, len(password), MaxPasswordBytes)
	}
	salt := make([]byte, passwordSaltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("domain: reading random salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, passwordKeyBytes)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches hash, comparing derived keys in constant
// time. It accepts argon2id PHC strings (as HashPassword writes) and bcrypt hashes ($2a$,
// $2b$, $2y$). It returns ErrMalformedHash (wrapped) for a hash it cannot parse.
func VerifyPassword(hash, password string) (bool, error) {
	if strings.HasPrefix(hash, "$2") {
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
		switch {
		case err == nil:
			return true, nil
		case err == bcrypt.ErrMismatchedHashAndPassword:
			return false, nil
		default:
			return false, fmt.Errorf("%w: %v", ErrMalformedHash, err)
		}
	}
	p, salt, want, err := parseArgon2id(hash)
	if err != nil {
		return false, err
	}
	if len(password) > MaxPasswordBytes {
		// Still spend the work so that the answer's timing says nothing.
		password = password[:MaxPasswordBytes]
		argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
		return false, nil
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// PasswordHashParams returns the argon2id parameters recorded in hash.
func PasswordHashParams(hash string) (PasswordParams, error) {
	p, _, _, err := parseArgon2id(hash)
	return p, err
}

func parseArgon2id(hash string) (PasswordParams, []byte, []byte, error) {
	var p PasswordParams
	parts := strings.Split(hash, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: not an argon2id PHC string", ErrMalformedHash)
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, fmt.Errorf("%w: argon2 version %q, want v=%d", ErrMalformedHash, parts[2], argon2.Version)
	}
	var threads uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &threads); err != nil || n != 3 {
		return p, nil, nil, fmt.Errorf("%w: argon2 parameters %q", ErrMalformedHash, parts[3])
	}
	if p.Time == 0 || threads == 0 || threads > 255 || p.MemoryKiB < 8*threads || p.MemoryKiB > MaxPasswordMemoryKiB {
		return p, nil, nil, fmt.Errorf("%w: argon2 parameters %q out of range", ErrMalformedHash, parts[3])
	}
	p.Threads = uint8(threads)
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return p, nil, nil, fmt.Errorf("%w: argon2 salt", ErrMalformedHash)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, fmt.Errorf("%w: argon2 key", ErrMalformedHash)
	}
	return p, salt, key, nil
}
