package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
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
//  5. A stored hash cheaper than the configured cost (PasswordParams: a fixture hash of
//     `etserver seed --insecure-fast-hashes`, a bcrypt hash, an older configuration) costs
//     one more argon2id derivation at the configured cost in the same slot: when the
//     password is right it becomes the user's new hash (a compare-and-set, so a password
//     changed meanwhile stays; a failed store update is retried at the next login), when
//     it is wrong it is thrown away. Either way a check of a known username costs at least
//     what the unknown-user check costs, and the upgrade is transparent to the client.
//  6. A failed check takes a token from the username's bucket.
//
// A successful check is remembered for LoginCacheTTL (an HMAC of the stored hash and the
// password under a per-process random key, in an LRU of LoginCacheSize usernames): the
// same username and password against the same stored hash then open a session without
// a derivation, so a client that logs one user in from 100 workers at once gets 100
// sessions in one derivation's time. Wrong passwords never match an entry and always
// pay the full check; a changed or deleted account never matches either.
//
// Login throttles by username only; LoginFrom also by the client's address.
func (s *Service) Login(ctx context.Context, username, password string) (LoginResult, error) {
	return s.LoginFrom(ctx, username, password, netip.Addr{})
}

// LoginFrom is Login from the client at address client: failed attempts are also counted
// per address (LoginAddrRate/LoginAddrBurst; IPv6 addresses by their /64, which one
// subscriber usually holds whole), and an address whose bucket is empty is refused like
// an exhausted username, with the retry hint of whichever bucket refuses. An invalid
// client (netip.Addr{}) skips the address throttle. The key is built from the parsed
// address, never from bytes a peer sent.
func (s *Service) LoginFrom(ctx context.Context, username, password string, client netip.Addr) (LoginResult, error) {
	if err := domain.ValidateUsername(username); err != nil {
		return LoginResult{}, err
	}
	if len(password) > domain.MaxPasswordBytes {
		return LoginResult{}, fmt.Errorf("%w: password is %d bytes, limit %d", domain.ErrInvalidArgument, len(password), domain.MaxPasswordBytes)
	}
	key := throttleKeys{user: "login:" + username} // validated: at most 6+255 bytes
	if client.IsValid() {
		key.addr = addrThrottleKey(client)
	}
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
	ok := known && s.verifiedBefore(username, hash, password)
	if !ok {
		ok, err = s.checkPassword(ctx, key, user, hash, password, known)
	}
	if err != nil {
		return LoginResult{}, fmt.Errorf("app: user %d: %w", user.ID, err)
	}
	if !ok || !known {
		// Count the failure. The answer is ErrIncorrectCredentials whatever the bucket
		// says: this attempt has been made; the next one is refused when it is empty.
		if _, err := s.limiter.Allow(ctx, key.user, s.loginLimit); err != nil {
			return LoginResult{}, fmt.Errorf("app: login throttle: %w", err)
		}
		if key.addr != "" {
			if _, err := s.limiter.Allow(ctx, key.addr, s.loginAddrLimit); err != nil {
				return LoginResult{}, fmt.Errorf("app: login throttle: %w", err)
			}
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

// throttleKeys name a login's buckets of failed attempts: the username's, and the client
// address's ("" without one).
type throttleKeys struct{ user, addr string }

// addrThrottleKey is the bucket of failed logins from a: "lip:" and the address, IPv6 by
// its /64 prefix, IPv4 (and IPv4-mapped IPv6) whole. At most 4 + 43 bytes.
func addrThrottleKey(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "lip:" + p.String()
	}
	return "lip:" + a.String()
}

// loginAllowed returns a login QuotaExceededError when the username's or the address's
// bucket of failed attempts is empty.
func (s *Service) loginAllowed(ctx context.Context, key throttleKeys) error {
	d, err := s.limiter.Peek(ctx, key.user, s.loginLimit)
	if err != nil {
		return fmt.Errorf("app: login throttle: %w", err)
	}
	if !d.Allowed {
		return &domain.QuotaExceededError{Op: domain.OpLogin, Limit: s.loginLimit.Rate, RetryAfter: d.RetryAfter}
	}
	if key.addr == "" {
		return nil
	}
	d, err = s.limiter.Peek(ctx, key.addr, s.loginAddrLimit)
	if err != nil {
		return fmt.Errorf("app: login throttle: %w", err)
	}
	if !d.Allowed {
		return &domain.QuotaExceededError{Op: domain.OpLogin, Limit: s.loginAddrLimit.Rate, RetryAfter: d.RetryAfter}
	}
	return nil
}

// checkPassword verifies password against hash in one of the MaxConcurrentHashes slots,
// waiting at most hashWait for one, and consults the throttle of key again once it holds
// it (attempts that failed while this one waited count). A login that waited for its slot
// while another login of the same user verified the same password finds that in the
// verified-login cache and takes no derivation. When hash costs less than the configured
// parameters it spends one configured-cost derivation in the slot: the upgrade when the
// password matched (known users only), a throwaway hash otherwise.
func (s *Service) checkPassword(ctx context.Context, key throttleKeys, user domain.User, hash, password string, known bool) (bool, error) {
	if err := s.acquireHashSlot(ctx); err != nil {
		return false, err
	}
	defer s.releaseHashSlot()
	if s.hashHook != nil {
		s.hashHook()
	}
	if err := s.loginAllowed(ctx, key); err != nil {
		return false, err
	}
	if known && s.verifiedBefore(user.Username, hash, password) {
		return true, nil
	}
	ok, err := domain.VerifyPassword(hash, password)
	if err != nil {
		return false, err
	}
	if domain.HashNeedsUpgrade(hash, s.passwordParams) {
		if ok && known {
			hash = s.upgradeHash(ctx, user, password)
		} else {
			_, _ = domain.HashPassword(password, s.passwordParams) // the cost an upgrade would have had
		}
	}
	if ok && known {
		s.rememberVerified(user.Username, hash, password)
	}
	return ok, nil
}

// upgradeHash stores a hash of password at the configured cost in place of user's
// outdated one (called in a password-check slot, after the password matched) and returns
// the hash now stored. A failure leaves the old hash, which still verifies; the next
// successful login tries again.
func (s *Service) upgradeHash(ctx context.Context, user domain.User, password string) string {
	h, err := domain.HashPassword(password, s.passwordParams)
	if err != nil {
		return user.PasswordHash
	}
	if done, err := s.accounts.UpdatePasswordHash(ctx, user.ID, user.PasswordHash, h); err != nil || !done {
		return user.PasswordHash
	}
	s.hashUpgrades.Add(1)
	return h
}

// verifiedEntry is what the verified-login cache holds for a username: the stored hash a
// password was verified against and an HMAC of that hash and the password under a key
// drawn at New (never the password itself).
type verifiedEntry struct {
	hash string
	mac  [sha256.Size]byte
}

func (s *Service) verifiedMAC(hash, password string) (out [sha256.Size]byte) {
	m := hmac.New(sha256.New, s.verifiedKey[:])
	m.Write([]byte(hash))
	m.Write([]byte{0})
	m.Write([]byte(password))
	m.Sum(out[:0])
	return out
}

// verifiedBefore reports whether password was verified against hash (still the stored
// one) within LoginCacheTTL. A changed password changes the stored hash, so the entry no
// longer matches.
func (s *Service) verifiedBefore(username, hash, password string) bool {
	if s.verified == nil {
		return false
	}
	e, ok := s.verified.Get(username)
	if !ok || e.hash != hash {
		return false
	}
	mac := s.verifiedMAC(hash, password)
	return hmac.Equal(e.mac[:], mac[:])
}

func (s *Service) rememberVerified(username, hash, password string) {
	if s.verified != nil {
		s.verified.Set(username, verifiedEntry{hash: hash, mac: s.verifiedMAC(hash, password)})
	}
}

// HashUpgrades returns how many outdated password hashes logins have replaced since New.
func (s *Service) HashUpgrades() int64 { return s.hashUpgrades.Load() }

// acquireHashSlot takes one of the MaxConcurrentHashes slots, waiting at most hashWait;
// release it with releaseHashSlot.
func (s *Service) acquireHashSlot(ctx context.Context) error {
	select {
	case s.hashSlots <- struct{}{}:
	default:
		t := time.NewTimer(s.hashWait)
		select {
		case s.hashSlots <- struct{}{}:
			t.Stop()
		case <-t.C:
			return &domain.QuotaExceededError{Op: domain.OpLogin, Limit: cap(s.hashSlots), Concurrent: true, RetryAfter: s.hashWait}
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	return nil
}

func (s *Service) releaseHashSlot() { <-s.hashSlots }
