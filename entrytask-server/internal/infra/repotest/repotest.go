// Package repotest is the repository test suite every storage backend must pass: the
// same cases run against MySQL+Redis and against the embedded SQLite store.
package repotest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
)

// Stores is one backend's set of repositories.
type Stores struct {
	Accounts domain.Accounts
	Quotas   domain.Quotas
	Sessions domain.Sessions
	KV       domain.KV
}

// Backend opens a backend's stores.
type Backend struct {
	// Open returns fresh, empty, migrated stores; it registers their cleanup with t.
	Open func(t *testing.T) Stores
	// Reopen closes the stores Open (or Reopen) returned and opens the same data again,
	// as a restarted server would.
	Reopen func(t *testing.T, s Stores) Stores
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// Run runs the suite.
func Run(t *testing.T, b Backend) {
	t.Run("Accounts", func(t *testing.T) { testAccounts(t, b) })
	t.Run("CreateAccounts", func(t *testing.T) { testCreateAccounts(t, b) })
	t.Run("AccountManagement", func(t *testing.T) { testAccountManagement(t, b) })
	t.Run("Quotas", func(t *testing.T) { testQuotas(t, b) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, b) })
	t.Run("KV", func(t *testing.T) { testKV(t, b) })
	t.Run("ConcurrentKV", func(t *testing.T) { testConcurrentKV(t, b) })
	t.Run("RestartKeepsData", func(t *testing.T) { testRestart(t, b) })
}

func testAccounts(t *testing.T, b Backend) {
	s := b.Open(t)
	c := ctx(t)
	u, err := s.Accounts.CreateUser(c, "alice", "$argon2id$fake")
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if u.ID <= 0 || u.Username != "alice" || u.PasswordHash != "$argon2id$fake" || u.CreatedAt.IsZero() {
		t.Fatalf("CreateUser returned %+v", u)
	}
	if _, err := s.Accounts.CreateUser(c, "alice", "x"); !errors.Is(err, domain.ErrUserExists) {
		t.Fatalf("duplicate CreateUser: got %v, want ErrUserExists", err)
	}
	tests := []struct {
		name, username string
		wantErr        error
	}{
		{"existing", "alice", nil},
		{"unknown", "bob", domain.ErrUserNotFound},
		{"case differs", "Alice", domain.ErrUserNotFound},
		{"trailing space", "alice ", domain.ErrUserNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Accounts.UserByUsername(c, tc.username)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("UserByUsername(%q): err %v, want %v", tc.username, err, tc.wantErr)
			}
			if err == nil && got.ID != u.ID {
				t.Fatalf("UserByUsername(%q) = id %d, want %d", tc.username, got.ID, u.ID)
			}
		})
	}
	uni, err := s.Accounts.CreateUser(c, "Zoë 名前", "h")
	if err != nil {
		t.Fatalf("CreateUser unicode: %v", err)
	}
	if got, err := s.Accounts.UserByUsername(c, "Zoë 名前"); err != nil || got.ID != uni.ID {
		t.Fatalf("UserByUsername unicode: %+v %v", got, err)
	}
}

func testCreateAccounts(t *testing.T, b Backend) {
	s := b.Open(t)
	c := ctx(t)
	if _, err := s.Accounts.CreateUser(c, "2", "old-hash"); err != nil {
		t.Fatal(err)
	}
	var accs []domain.NewAccount
	for i := 1; i <= 5; i++ {
		q := domain.SeededQuota(int64(i))
		accs = append(accs, domain.NewAccount{Username: fmt.Sprint(i), PasswordHash: fmt.Sprint("hash", i), Quota: &q})
	}
	accs = append(accs, domain.NewAccount{Username: "noquota", PasswordHash: "h"})
	n, err := s.Accounts.CreateAccounts(c, accs)
	if err != nil {
		t.Fatalf("CreateAccounts: %v", err)
	}
	if n != 5 {
		t.Fatalf("CreateAccounts created %d, want 5 (user 2 existed)", n)
	}
	existing, err := s.Accounts.ExistingUsernames(c, []string{"1", "2", "5", "6", "noquota"})
	if err != nil {
		t.Fatal(err)
	}
	if !existing["1"] || !existing["2"] || !existing["5"] || existing["6"] || !existing["noquota"] || len(existing) != 4 {
		t.Fatalf("ExistingUsernames = %v", existing)
	}
	if got, _ := s.Accounts.ExistingUsernames(c, nil); len(got) != 0 {
		t.Fatalf("ExistingUsernames(nil) = %v", got)
	}
	u2, err := s.Accounts.UserByUsername(c, "2")
	if err != nil || u2.PasswordHash != "old-hash" {
		t.Fatalf("existing user 2 changed: %+v %v", u2, err)
	}
	u3, err := s.Accounts.UserByUsername(c, "3")
	if err != nil || u3.PasswordHash != "hash3" {
		t.Fatalf("user 3: %+v %v", u3, err)
	}
	if q, err := s.Quotas.QuotaOf(c, u3.ID); err != nil || q != domain.SeededQuota(3) {
		t.Fatalf("quota of user 3 = %+v %v, want %+v", q, err, domain.SeededQuota(3))
	}
	nq, _ := s.Accounts.UserByUsername(c, "noquota")
	if _, err := s.Quotas.QuotaOf(c, nq.ID); !errors.Is(err, domain.ErrQuotaNotFound) {
		t.Fatalf("quota of noquota: %v, want ErrQuotaNotFound", err)
	}
	if n, err := s.Accounts.CreateAccounts(c, accs); err != nil || n != 0 {
		t.Fatalf("CreateAccounts again = %d, %v; want 0, nil", n, err)
	}
	if n, err := s.Accounts.CreateAccounts(c, nil); err != nil || n != 0 {
		t.Fatalf("CreateAccounts(nil) = %d, %v", n, err)
	}
}

func testQuotas(t *testing.T, b Backend) {
	s := b.Open(t)
	c := ctx(t)
	u, err := s.Accounts.CreateUser(c, "q", "h")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Quotas.QuotaOf(c, u.ID); !errors.Is(err, domain.ErrQuotaNotFound) {
		t.Fatalf("QuotaOf before set: %v", err)
	}
	for _, q := range []domain.Quota{{Read: 10, Write: 5}, {Read: 100000, Write: 1}} {
		if err := s.Quotas.SetQuota(c, u.ID, q); err != nil {
			t.Fatalf("SetQuota(%+v): %v", q, err)
		}
		if got, err := s.Quotas.QuotaOf(c, u.ID); err != nil || got != q {
			t.Fatalf("QuotaOf = %+v %v, want %+v", got, err, q)
		}
	}
	if err := s.Quotas.SetQuota(c, u.ID, domain.Quota{Read: 0, Write: 1}); !errors.Is(err, domain.ErrInvalidArgument) {
		t.Fatalf("SetQuota(0): %v, want ErrInvalidArgument", err)
	}
}

func testSessions(t *testing.T, b Backend) {
	s := b.Open(t)
	c := ctx(t)
	now := time.Now()
	tests := []struct {
		name    string
		sess    domain.Session
		wantErr error
	}{
		{"live", domain.Session{ID: "live", UserID: 7, Username: "seven:with:colons", ExpiresAt: now.Add(time.Hour)}, nil},
		{"expired", domain.Session{ID: "expired", UserID: 8, Username: "eight", ExpiresAt: now.Add(-time.Second)}, domain.ErrSessionNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Sessions.CreateSession(c, tc.sess); err != nil {
				t.Fatalf("CreateSession: %v", err)
			}
			got, err := s.Sessions.SessionByID(c, tc.sess.ID)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("SessionByID: %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got.ID != tc.sess.ID || got.UserID != tc.sess.UserID || got.Username != tc.sess.Username {
				t.Fatalf("SessionByID = %+v, want %+v", got, tc.sess)
			}
			if d := got.ExpiresAt.Sub(tc.sess.ExpiresAt); d < -time.Millisecond || d > time.Millisecond {
				t.Fatalf("ExpiresAt = %v, want %v", got.ExpiresAt, tc.sess.ExpiresAt)
			}
		})
	}
	if _, err := s.Sessions.SessionByID(c, "unknown"); !errors.Is(err, domain.ErrSessionNotFound) {
		t.Fatalf("unknown session: %v", err)
	}
	if err := s.Sessions.DeleteSession(c, "live"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sessions.SessionByID(c, "live"); !errors.Is(err, domain.ErrSessionNotFound) {
		t.Fatalf("deleted session: %v", err)
	}
	if err := s.Sessions.DeleteSession(c, "live"); err != nil {
		t.Fatalf("deleting an unknown session: %v", err)
	}
}

func testKV(t *testing.T, b Backend) {
	s := b.Open(t)
	c := ctx(t)
	big := bytes.Repeat([]byte{0xab}, domain.DefaultValueMaxBytes)
	tests := []struct {
		name  string
		key   string
		value []byte
	}{
		{"plain", "k", []byte("v")},
		{"empty value", "empty", []byte{}},
		{"binary", "bin\x00\xff:key", []byte{0, 1, 2, 0, 255}},
		{"longest key", strings.Repeat("k", domain.KeyMaxBytes), []byte("long")},
		{"largest value", "big", big},
		{"legacy 2000 bytes", strings.Repeat("x", 2000), bytes.Repeat([]byte("y"), 2000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.KV.Get(c, 1, tc.key); !errors.Is(err, domain.ErrKeyNotExist) {
				t.Fatalf("Get before Put: %v", err)
			}
			if err := s.KV.Put(c, 1, tc.key, tc.value); err != nil {
				t.Fatalf("Put: %v", err)
			}
			got, err := s.KV.Get(c, 1, tc.key)
			if err != nil || !bytes.Equal(got, tc.value) || got == nil {
				t.Fatalf("Get = %d bytes %v, want %d bytes", len(got), err, len(tc.value))
			}
			if _, err := s.KV.Get(c, 2, tc.key); !errors.Is(err, domain.ErrKeyNotExist) {
				t.Fatalf("user 2 sees user 1's key: %v", err)
			}
		})
	}
	if err := s.KV.Put(c, 1, "k", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.KV.Get(c, 1, "k"); string(got) != "v2" {
		t.Fatalf("overwrite: got %q", got)
	}
	if err := s.KV.Put(c, 2, "k", []byte("other")); err != nil {
		t.Fatal(err)
	}
	if err := s.KV.Delete(c, 1, "k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.KV.Get(c, 1, "k"); !errors.Is(err, domain.ErrKeyNotExist) {
		t.Fatalf("Get after Delete: %v", err)
	}
	if err := s.KV.Delete(c, 1, "k"); !errors.Is(err, domain.ErrKeyNotExist) {
		t.Fatalf("Delete missing: %v, want ErrKeyNotExist", err)
	}
	if got, err := s.KV.Get(c, 2, "k"); err != nil || string(got) != "other" {
		t.Fatalf("user 2's key after user 1's delete: %q %v", got, err)
	}
}

func testConcurrentKV(t *testing.T, b Backend) {
	s := b.Open(t)
	c := ctx(t)
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				key := fmt.Sprintf("k%d", i)
				if err := s.KV.Put(c, int64(w+1), key, []byte(fmt.Sprint(w, i))); err != nil {
					errs <- err
					return
				}
				if got, err := s.KV.Get(c, int64(w+1), key); err != nil || string(got) != fmt.Sprint(w, i) {
					errs <- fmt.Errorf("user %d %s: %q %v", w+1, key, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testRestart(t *testing.T, b Backend) {
	s := b.Open(t)
	c := ctx(t)
	u, err := s.Accounts.CreateUser(c, "persist", "h")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Quotas.SetQuota(c, u.ID, domain.Quota{Read: 3, Write: 4}); err != nil {
		t.Fatal(err)
	}
	sess := domain.Session{ID: "persist-session", UserID: u.ID, Username: u.Username, ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.Sessions.CreateSession(c, sess); err != nil {
		t.Fatal(err)
	}
	if err := s.KV.Put(c, u.ID, "key", []byte("value")); err != nil {
		t.Fatal(err)
	}
	s = b.Reopen(t, s)
	if got, err := s.Accounts.UserByUsername(c, "persist"); err != nil || got.ID != u.ID {
		t.Fatalf("user after restart: %+v %v", got, err)
	}
	if q, err := s.Quotas.QuotaOf(c, u.ID); err != nil || q != (domain.Quota{Read: 3, Write: 4}) {
		t.Fatalf("quota after restart: %+v %v", q, err)
	}
	if got, err := s.Sessions.SessionByID(c, sess.ID); err != nil || got.UserID != u.ID {
		t.Fatalf("session after restart: %+v %v", got, err)
	}
	if v, err := s.KV.Get(c, u.ID, "key"); err != nil || string(v) != "value" {
		t.Fatalf("value after restart: %q %v", v, err)
	}
}

// testAccountManagement: UpdatePasswordHash is a compare-and-set, DeleteUser takes the
// quota row with it, ListUsers pages in byte order.
func testAccountManagement(t *testing.T, b Backend) {
	s, c := b.Open(t), ctx(t)
	q := domain.Quota{Read: 3, Write: 4}
	if _, err := s.Accounts.CreateAccounts(c, []domain.NewAccount{
		{Username: "b", PasswordHash: "h-b", Quota: &q}, {Username: "a", PasswordHash: "h-a"},
		{Username: "B", PasswordHash: "h-B"}, {Username: "ä", PasswordHash: "h-ae"},
	}); err != nil {
		t.Fatal(err)
	}
	u, err := s.Accounts.UserByUsername(c, "b")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Accounts.UpdatePasswordHash(c, u.ID, "stale", "h-new"); ok || err != nil {
		t.Fatalf("stale compare-and-set: %v %v", ok, err)
	}
	if ok, err := s.Accounts.UpdatePasswordHash(c, u.ID, "h-b", "h-new"); !ok || err != nil {
		t.Fatalf("compare-and-set: %v %v", ok, err)
	}
	if ok, err := s.Accounts.UpdatePasswordHash(c, u.ID, "", "h-newer"); !ok || err != nil {
		t.Fatalf("unconditional update: %v %v", ok, err)
	}
	if u, _ := s.Accounts.UserByUsername(c, "b"); u.PasswordHash != "h-newer" {
		t.Fatalf("hash %q after updates", u.PasswordHash)
	}
	if _, err := s.Accounts.UpdatePasswordHash(c, 1<<40, "", "x"); !errors.Is(err, domain.ErrUserNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	var names []string
	for after := ""; ; {
		page, err := s.Accounts.ListUsers(c, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, u := range page {
			names = append(names, u.Username)
		}
		after = page[len(page)-1].Username
		if len(names) > 10 {
			t.Fatalf("ListUsers does not end: %v", names)
		}
	}
	if got := strings.Join(names, ","); got != "B,a,b,ä" {
		t.Fatalf("ListUsers order %s, want B,a,b,ä (bytes)", got)
	}
	d, err := s.Accounts.DeleteUser(c, "b")
	if err != nil || d.ID != u.ID {
		t.Fatalf("DeleteUser: %+v %v", d, err)
	}
	if _, err := s.Quotas.QuotaOf(c, u.ID); !errors.Is(err, domain.ErrQuotaNotFound) {
		t.Fatalf("quota after delete: %v", err)
	}
	if _, err := s.Accounts.DeleteUser(c, "b"); !errors.Is(err, domain.ErrUserNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}
