package app_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/mysql"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/redis"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testenv"
)

// TestAccountsEmbedded and TestAccountsMySQLRedis run the account use cases, the hash
// upgrade at login and the concurrent-login pattern on both stores.
func TestAccountsEmbedded(t *testing.T) {
	e := newEnv(t, nil)
	testAccounts(t, e.svc, e.store)
}

func TestAccountsMySQLRedis(t *testing.T) {
	dsn, addr := testenv.MySQLDSN(t), testenv.RedisAddr(t)
	ctx := context.Background()
	ms, err := mysql.Open(ctx, mysql.Options{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	if _, err := ms.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rs, err := redis.Open(ctx, redis.Options{Addr: addr, Prefix: testenv.RedisPrefix(t, addr)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	svc, err := app.New(app.Options{Accounts: ms, Quotas: ms, Sessions: rs, KV: rs, Limiter: rs, PasswordParams: cheap})
	if err != nil {
		t.Fatal(err)
	}
	testAccounts(t, svc, ms)
}

func hashParamsOf(t *testing.T, accounts domain.Accounts, name string) domain.PasswordParams {
	t.Helper()
	u, err := accounts.UserByUsername(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := domain.PasswordHashParams(u.PasswordHash)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func testAccounts(t *testing.T, svc *app.Service, accounts domain.Accounts) {
	ctx := context.Background()
	want := svc.PasswordParams()
	if want != cheap {
		t.Fatalf("PasswordParams() = %v, want %v", want, cheap)
	}

	t.Run("login upgrades a fixture hash", func(t *testing.T) {
		if _, err := app.Seed(ctx, accounts, app.SeedOptions{Users: 2, InsecureFastHashes: true}); err != nil {
			t.Fatal(err)
		}
		if p := hashParamsOf(t, accounts, "1"); p != domain.FixturePasswordParams {
			t.Fatalf("seeded hash %v, want fixture", p)
		}
		if _, err := svc.Login(ctx, "2", "wrong"); err != domain.ErrIncorrectCredentials {
			t.Fatalf("wrong password: %v", err)
		}
		if p := hashParamsOf(t, accounts, "2"); p != domain.FixturePasswordParams {
			t.Fatalf("a wrong password changed the hash to %v", p)
		}
		before := svc.HashUpgrades()
		if _, err := svc.Login(ctx, "1", "1"); err != nil {
			t.Fatal(err)
		}
		if p := hashParamsOf(t, accounts, "1"); p != want {
			t.Fatalf("after login the hash is %v, want %v", p, want)
		}
		if n := svc.HashUpgrades() - before; n != 1 {
			t.Fatalf("%d upgrades, want 1", n)
		}
		if _, err := svc.Login(ctx, "1", "1"); err != nil {
			t.Fatalf("login with the upgraded hash: %v", err)
		}
		if n := svc.HashUpgrades() - before; n != 1 {
			t.Fatalf("%d upgrades after a second login, want 1", n)
		}
	})

	t.Run("100 concurrent logins of one user", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		tokens := make(chan string, 100)
		for range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := svc.Login(ctx, "2", "2") // fixture hash: upgraded once, by one of them
				if err != nil {
					errs <- err
					return
				}
				tokens <- res.Token
			}()
		}
		wg.Wait()
		close(errs)
		close(tokens)
		for err := range errs {
			t.Errorf("login: %v", err)
		}
		seen := map[string]bool{}
		for tok := range tokens {
			seen[tok] = true
		}
		if len(seen) != 100 {
			t.Fatalf("%d distinct sessions, want 100", len(seen))
		}
		if p := hashParamsOf(t, accounts, "2"); p != want {
			t.Fatalf("after logins the hash is %v, want %v", p, want)
		}
	})

	t.Run("validation names the rule", func(t *testing.T) {
		cases := []struct {
			name, user, password string
			quota                *domain.Quota
			want                 string
		}{
			{"empty username", "", "long enough", nil, "username is empty"},
			{"control character", "a\nb", "long enough", nil, "control character"},
			{"long username", strings.Repeat("u", 256), "long enough", nil, "limit 255"},
			{"empty password", "bob", "", nil, "password is empty"},
			{"short password", "bob", "seven77", nil, "at least 8"},
			{"long password", "bob", strings.Repeat("p", domain.MaxPasswordBytes+1), nil, "limit 1024"},
			{"bad quota", "bob", "long enough", &domain.Quota{Read: 0, Write: 1}, "quota"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, err := svc.AddUser(ctx, tc.user, tc.password, tc.quota)
				if !errors.Is(err, domain.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("AddUser: %v, want ErrInvalidArgument naming %q", err, tc.want)
				}
			})
		}
		if _, err := accounts.UserByUsername(ctx, "bob"); !errors.Is(err, domain.ErrUserNotFound) {
			t.Fatalf("a refused user was stored: %v", err)
		}
	})

	t.Run("add passwd quota list delete", func(t *testing.T) {
		a, err := svc.AddUser(ctx, "alice", "correct horse", &domain.Quota{Read: 7, Write: 3})
		if err != nil {
			t.Fatal(err)
		}
		if a.HashParams != want || a.Outdated || !a.QuotaSet || a.Quota != (domain.Quota{Read: 7, Write: 3}) {
			t.Fatalf("AddUser = %+v", a)
		}
		if _, err := svc.AddUser(ctx, "alice", "another one", nil); !errors.Is(err, domain.ErrUserExists) {
			t.Fatalf("second AddUser: %v", err)
		}
		if _, err := svc.Login(ctx, "alice", "correct horse"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.ChangePassword(ctx, "alice", "battery staple"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Login(ctx, "alice", "correct horse"); err != domain.ErrIncorrectCredentials {
			t.Fatalf("old password: %v", err)
		}
		if _, err := svc.Login(ctx, "alice", "battery staple"); err != nil {
			t.Fatalf("new password: %v", err)
		}
		if _, err := svc.ChangePassword(ctx, "nobody", "battery staple"); !errors.Is(err, domain.ErrUserNotFound) {
			t.Fatalf("passwd of an unknown user: %v", err)
		}
		if a, err := svc.SetUserQuota(ctx, "alice", domain.Quota{Read: 50, Write: 60}); err != nil || a.Quota != (domain.Quota{Read: 50, Write: 60}) {
			t.Fatalf("SetUserQuota: %+v %v", a, err)
		}
		// Pages of two over 1, 2, alice and u0..u2.
		for i := range 3 {
			if _, err := svc.AddUser(ctx, fmt.Sprintf("u%d", i), "password!", nil); err != nil {
				t.Fatal(err)
			}
		}
		var names []string
		for after, pages := "", 0; pages < 10; pages++ {
			page, err := svc.ListUsers(ctx, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, a := range page {
				names = append(names, a.Username)
			}
			after = page[len(page)-1].Username
		}
		if got := strings.Join(names, ","); got != "1,2,alice,u0,u1,u2" {
			t.Fatalf("listed %s", got)
		}
		if _, err := svc.ListUsers(ctx, "", app.MaxListLimit+1); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Fatalf("huge limit: %v", err)
		}
		if _, err := svc.DeleteUser(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.DeleteUser(ctx, "alice"); !errors.Is(err, domain.ErrUserNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if _, err := svc.Login(ctx, "alice", "battery staple"); err != domain.ErrIncorrectCredentials {
			t.Fatalf("login of a deleted user: %v", err)
		}
	})
}

// TestLoginUpgradeKeepsChangedPassword: the upgrade is a compare-and-set, so a password
// changed between a login's lookup and its upgrade stays.
func TestLoginUpgradeKeepsChangedPassword(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	old, _ := domain.HashPassword("fixture pw", domain.FixturePasswordParams)
	u, err := e.store.CreateUser(ctx, "carol", old)
	if err != nil {
		t.Fatal(err)
	}
	changed, _ := domain.HashPassword("changed pw", cheap)
	if ok, err := e.store.UpdatePasswordHash(ctx, u.ID, old, changed); !ok || err != nil {
		t.Fatalf("compare-and-set with the right old hash: %v %v", ok, err)
	}
	if ok, err := e.store.UpdatePasswordHash(ctx, u.ID, old, "$argon2id$whatever"); ok || err != nil {
		t.Fatalf("compare-and-set with a stale old hash: %v %v", ok, err)
	}
	if _, err := e.store.UpdatePasswordHash(ctx, u.ID+100, "", changed); !errors.Is(err, domain.ErrUserNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := e.svc.Login(ctx, "carol", "changed pw"); err != nil {
		t.Fatal(err)
	}
}

// TestLoginFromAddressThrottle: failed logins are counted per client address, IPv6 per
// /64, whatever the usernames; other addresses are not affected, and an invalid address
// (Login) skips the address throttle.
func TestLoginFromAddressThrottle(t *testing.T) {
	e := newEnv(t, func(o *app.Options) { o.LoginAddrRate, o.LoginAddrBurst = 1, 3 })
	ctx := context.Background()
	e.user(t, "dave", "dave's password", nil)
	a1, a2 := netip.MustParseAddr("2001:db8:1:2::10"), netip.MustParseAddr("2001:db8:1:2:ffff::1") // same /64
	for i := range 3 {
		if _, err := e.svc.LoginFrom(ctx, fmt.Sprint("ghost", i), "guess", a1); err != domain.ErrIncorrectCredentials {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	var qe *domain.QuotaExceededError
	if _, err := e.svc.LoginFrom(ctx, "dave", "dave's password", a2); !errors.As(err, &qe) || qe.RetryAfter <= 0 {
		t.Fatalf("same /64 after the burst: %v, want a login QuotaExceededError with RetryAfter", err)
	}
	if _, err := e.svc.LoginFrom(ctx, "dave", "dave's password", netip.MustParseAddr("2001:db8:1:3::10")); err != nil {
		t.Fatalf("another /64: %v", err)
	}
	if _, err := e.svc.LoginFrom(ctx, "dave", "dave's password", netip.MustParseAddr("::ffff:192.0.2.1")); err != nil {
		t.Fatalf("an IPv4 client: %v", err)
	}
	if _, err := e.svc.Login(ctx, "dave", "dave's password"); err != nil {
		t.Fatalf("Login without an address: %v", err)
	}
	e.clk.Add(time.Second)
	if _, err := e.svc.LoginFrom(ctx, "dave", "dave's password", a1); err != nil {
		t.Fatalf("after a refill: %v", err)
	}
}
