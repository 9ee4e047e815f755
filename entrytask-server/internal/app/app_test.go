package app_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/ratelimit"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/sqlite"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

var cheap = domain.PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type env struct {
	svc   *app.Service
	store *sqlite.Store
	clk   *clock
}

// newEnv returns a Service on a fresh SQLite store, with one fake clock for the service,
// the store's session expiry and the rate limiter.
func newEnv(t *testing.T, mutate func(*app.Options)) *env { return newEnvTB(t, mutate) }

func newEnvB(b *testing.B) *env { return newEnvTB(b, nil) }

func newEnvTB(t testing.TB, mutate func(*app.Options)) *env {
	t.Helper()
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	// A writer waits for SQLite's lock up to the kit's bound for a loaded machine, not
	// the store's default 10 s: in TestAccountsEmbedded 100 concurrent logins commit
	// a session each (an fsync apiece), 8 pool connections contending for the lock
	// (about 1 s in all under -race at GOMAXPROCS=1 here); the wait is the harness's,
	// not what the tests claim.
	s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: t.TempDir(), Now: clk.Now, BusyTimeout: testkit.DefaultTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	opts := app.Options{
		Accounts: s, Quotas: s, Sessions: s, KV: s,
		Limiter:        ratelimit.NewLocal(ratelimit.Options{Now: clk.Now}),
		PasswordParams: cheap,
		Now:            clk.Now,
	}
	if mutate != nil {
		mutate(&opts)
	}
	svc, err := app.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &env{svc: svc, store: s, clk: clk}
}

func (e *env) user(t *testing.T, name, password string, q *domain.Quota) domain.User {
	t.Helper()
	h, err := domain.HashPassword(password, cheap)
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.store.CreateUser(context.Background(), name, h)
	if err != nil {
		t.Fatal(err)
	}
	if q != nil {
		if err := e.store.SetQuota(context.Background(), u.ID, *q); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

func (e *env) login(t *testing.T, name, password string) app.Principal {
	t.Helper()
	ctx := context.Background()
	res, err := e.svc.Login(ctx, name, password)
	if err != nil {
		t.Fatalf("Login(%q): %v", name, err)
	}
	p, err := e.svc.Authenticate(ctx, res.Token, "")
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	return p
}

func TestLogin(t *testing.T) {
	e := newEnv(t, nil)
	u := e.user(t, "alice", "secret", nil)
	ctx := context.Background()
	res, err := e.svc.Login(ctx, "alice", "secret")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := domain.ParseToken(res.Token); err != nil || res.UserID != u.ID {
		t.Fatalf("Login = %+v: %v", res, err)
	}
	if want := e.clk.Now().Add(app.DefaultSessionTTL); !res.ExpiresAt.Equal(want) {
		t.Fatalf("ExpiresAt = %v, want %v", res.ExpiresAt, want)
	}
	res2, _ := e.svc.Login(ctx, "alice", "secret")
	if res2.Token == res.Token {
		t.Fatal("two logins returned one token")
	}

	tests := []struct{ name, username, password string }{
		{"wrong password", "alice", "Secret"},
		{"unknown user", "bob", "secret"},
		{"empty password", "alice", ""},
		{"case differs", "Alice", "secret"},
		{"dummy password on unknown user", "nobody", "etserver dummy password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Login(ctx, tc.username, tc.password)
			if err != domain.ErrIncorrectCredentials { // the very same value: nothing tells the cases apart
				t.Fatalf("Login(%q, %q) = %v, want exactly ErrIncorrectCredentials", tc.username, tc.password, err)
			}
		})
	}
}

// TestLoginInvalidArgument: input that can name no account, or match no password, is
// refused before anything is looked up or hashed, with the rule it breaks.
func TestLoginInvalidArgument(t *testing.T) {
	e := newEnv(t, nil)
	e.user(t, "alice", "secret", nil)
	tests := []struct{ name, username, password, wantMsg string }{
		{"empty username", "", "secret", "username is empty"},
		{"overlong username", strings.Repeat("a", 300), "secret", "username is 300 bytes, limit 255"},
		{"invalid UTF-8", "al\xffice", "secret", "not valid UTF-8"},
		{"control character", "alice\n", "secret", "control character U+000A"},
		{"overlong password", "alice", strings.Repeat("p", domain.MaxPasswordBytes+1), "password is 1025 bytes, limit 1024"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Login(context.Background(), tc.username, tc.password)
			if !errors.Is(err, domain.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Login = %v, want ErrInvalidArgument naming %q", err, tc.wantMsg)
			}
		})
	}
}

func TestLoginThrottle(t *testing.T) {
	e := newEnv(t, func(o *app.Options) { o.LoginRate, o.LoginBurst = 1, 2 })
	e.user(t, "carol", "pw", nil)
	ctx := context.Background()
	for i := range 2 {
		if _, err := e.svc.Login(ctx, "carol", "wrong"); err != domain.ErrIncorrectCredentials {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	_, err := e.svc.Login(ctx, "carol", "pw")
	var qe *domain.QuotaExceededError
	if !errors.As(err, &qe) || qe.Op != domain.OpLogin || qe.RetryAfter != time.Second || !errors.Is(err, domain.ErrQuotaExceeded) {
		t.Fatalf("third attempt: %v, want login QuotaExceededError retry 1s", err)
	}
	if _, err := e.svc.Login(ctx, "dave", "x"); err != domain.ErrIncorrectCredentials {
		t.Fatalf("another username is throttled too: %v", err)
	}
	e.clk.Add(time.Second)
	if _, err := e.svc.Login(ctx, "carol", "pw"); err != nil {
		t.Fatalf("after the retry hint: %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	e := newEnv(t, func(o *app.Options) { o.SessionTTL = time.Minute })
	e.user(t, "alice", "pw", nil)
	e.user(t, "bob", "pw", nil)
	ctx := context.Background()
	res, err := e.svc.Login(ctx, "alice", "pw")
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := domain.NewToken()
	tests := []struct {
		name, token, username string
		ok                    bool
	}{
		{"token", res.Token, "", true},
		{"token and matching username", res.Token, "alice", true},
		{"username of another user", res.Token, "bob", false},
		{"empty token", "", "", false},
		{"empty token with username", "", "alice", false},
		{"forged token", string(forged), "alice", false},
		{"malformed token", "not-a-token", "", false},
		{"upper-case token", strings.ToUpper(res.Token), "", false},
		{"session id as token", domain.Token(res.Token).SessionID(), "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := e.svc.Authenticate(ctx, tc.token, tc.username)
			if tc.ok {
				if err != nil || p.Username != "alice" || p.UserID != res.UserID {
					t.Fatalf("Authenticate = %+v, %v", p, err)
				}
				return
			}
			if !errors.Is(err, domain.ErrUnauthenticated) {
				t.Fatalf("Authenticate(%q, %q) = %v, want ErrUnauthenticated", tc.token, tc.username, err)
			}
		})
	}
	t.Run("expired token", func(t *testing.T) {
		e.clk.Add(time.Minute - time.Nanosecond)
		if _, err := e.svc.Authenticate(ctx, res.Token, ""); err != nil {
			t.Fatalf("just before expiry: %v", err)
		}
		e.clk.Add(time.Nanosecond)
		if _, err := e.svc.Authenticate(ctx, res.Token, ""); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("at expiry: %v, want ErrUnauthenticated", err)
		}
	})
}

func TestLogout(t *testing.T) {
	e := newEnv(t, nil)
	e.user(t, "alice", "pw", nil)
	ctx := context.Background()
	a, _ := e.svc.Login(ctx, "alice", "pw")
	b, _ := e.svc.Login(ctx, "alice", "pw")
	if err := e.svc.Logout(ctx, a.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, a.Token, ""); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("token after logout: %v", err)
	}
	if _, err := e.svc.Authenticate(ctx, b.Token, ""); err != nil {
		t.Fatalf("other session ended by logout: %v", err)
	}
	if err := e.svc.Logout(ctx, a.Token); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("second logout: %v", err)
	}
	if err := e.svc.Logout(ctx, ""); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("logout with empty token: %v", err)
	}
}

func TestReadWriteDelete(t *testing.T) {
	e := newEnv(t, func(o *app.Options) { o.ValueMaxBytes = 2000 })
	e.user(t, "alice", "pw", nil)
	e.user(t, "bob", "pw", nil)
	alice, bob := e.login(t, "alice", "pw"), e.login(t, "bob", "pw")
	ctx := context.Background()
	if _, err := e.svc.Read(ctx, alice, "k"); !errors.Is(err, domain.ErrKeyNotExist) {
		t.Fatalf("Read missing: %v", err)
	}
	if err := e.svc.Write(ctx, alice, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, err := e.svc.Read(ctx, alice, "k"); err != nil || string(v) != "v" {
		t.Fatalf("Read = %q %v", v, err)
	}
	if _, err := e.svc.Read(ctx, bob, "k"); !errors.Is(err, domain.ErrKeyNotExist) {
		t.Fatalf("bob reads alice's key: %v", err)
	}
	if err := e.svc.Delete(ctx, alice, "k"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Delete(ctx, alice, "k"); !errors.Is(err, domain.ErrKeyNotExist) {
		t.Fatalf("Delete missing: %v", err)
	}

	sizes := []struct {
		name    string
		key     string
		value   int
		wantErr string
	}{
		{"legacy sizes", strings.Repeat("k", 2000), 2000, ""},
		{"longest key", strings.Repeat("k", 4096), 1, ""},
		{"empty key", "", 1, "key is empty"},
		{"oversized key", strings.Repeat("k", 4097), 1, "key is 4097 bytes, limit 4096"},
		{"oversized value", "k", 2001, "value is 2001 bytes, limit 2000"},
	}
	for _, tc := range sizes {
		t.Run(tc.name, func(t *testing.T) {
			err := e.svc.Write(ctx, alice, tc.key, make([]byte, tc.value))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, domain.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Write: %v, want ErrInvalidArgument with %q", err, tc.wantErr)
			}
			if len(tc.key) < 1 || len(tc.key) > 4096 {
				if _, err := e.svc.Read(ctx, alice, tc.key); !errors.Is(err, domain.ErrInvalidArgument) {
					t.Fatalf("Read: %v", err)
				}
				if err := e.svc.Delete(ctx, alice, tc.key); !errors.Is(err, domain.ErrInvalidArgument) {
					t.Fatalf("Delete: %v", err)
				}
			}
		})
	}
	if e.svc.ValueMaxBytes() != 2000 {
		t.Fatal("ValueMaxBytes")
	}
}

func TestQuotaExhaustionAndRefill(t *testing.T) {
	e := newEnv(t, nil)
	q := domain.SeededQuota(1) // read 6/s burst 1, write 4/s burst 1
	e.user(t, "1", "1", &q)
	p := e.login(t, "1", "1")
	ctx := context.Background()
	tests := []struct {
		op    domain.Op
		limit int
		retry time.Duration
	}{
		{domain.OpRead, 6, time.Second / 6},
		{domain.OpWrite, 4, time.Second / 4},
	}
	for _, tc := range tests {
		t.Run(string(tc.op), func(t *testing.T) {
			if err := e.svc.CheckQuota(ctx, p, tc.op); err != nil {
				t.Fatalf("first call: %v", err)
			}
			err := e.svc.CheckQuota(ctx, p, tc.op)
			var qe *domain.QuotaExceededError
			if !errors.As(err, &qe) || qe.Op != tc.op || qe.Limit != tc.limit || qe.RetryAfter != tc.retry {
				t.Fatalf("second call: %v, want %s quota exceeded, retry %s", err, tc.op, tc.retry)
			}
		})
	}
	e.clk.Add(time.Second / 6)
	if err := e.svc.CheckQuota(ctx, p, domain.OpRead); err != nil {
		t.Fatalf("read after refill: %v", err)
	}
	if err := e.svc.CheckQuota(ctx, p, domain.OpWrite); !errors.Is(err, domain.ErrQuotaExceeded) {
		t.Fatalf("write refilled early: %v", err)
	}
	e.clk.Add(time.Second/4 - time.Second/6)
	if err := e.svc.CheckQuota(ctx, p, domain.OpWrite); err != nil {
		t.Fatalf("write after refill: %v", err)
	}
	if err := e.svc.CheckQuota(ctx, p, "login"); err == nil {
		t.Fatal("CheckQuota accepted op login")
	}
}

func TestDefaultQuotaAndCache(t *testing.T) {
	e := newEnv(t, func(o *app.Options) {
		o.DefaultQuota = domain.Quota{Read: 20, Write: 10}
		o.QuotaCacheTTL = time.Minute
	})
	u := e.user(t, "noquota", "pw", nil)
	ctx := context.Background()
	if q, err := e.svc.QuotaOf(ctx, u.ID); err != nil || q != (domain.Quota{Read: 20, Write: 10}) {
		t.Fatalf("default quota: %+v %v", q, err)
	}
	p := e.login(t, "noquota", "pw")
	for i := range 2 { // burst 20/10 = 2
		if err := e.svc.CheckQuota(ctx, p, domain.OpRead); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	if err := e.svc.CheckQuota(ctx, p, domain.OpRead); !errors.Is(err, domain.ErrQuotaExceeded) {
		t.Fatalf("third read: %v", err)
	}
	// A new quota is served from the cache until the TTL passes.
	if err := e.store.SetQuota(ctx, u.ID, domain.Quota{Read: 50, Write: 50}); err != nil {
		t.Fatal(err)
	}
	if q, _ := e.svc.QuotaOf(ctx, u.ID); q.Read != 20 {
		t.Fatalf("cache bypassed: %+v", q)
	}
	e.clk.Add(time.Minute)
	if q, _ := e.svc.QuotaOf(ctx, u.ID); q.Read != 50 {
		t.Fatalf("cache not refreshed after TTL: %+v", q)
	}
	if err := e.store.SetQuota(ctx, u.ID, domain.Quota{Read: 70, Write: 70}); err != nil {
		t.Fatal(err)
	}
	e.svc.InvalidateQuota(u.ID)
	if q, _ := e.svc.QuotaOf(ctx, u.ID); q.Read != 70 {
		t.Fatalf("InvalidateQuota: %+v", q)
	}
}

func TestConcurrentUseCases(t *testing.T) {
	e := newEnv(t, func(o *app.Options) { o.DefaultQuota = domain.Quota{Read: 100000, Write: 100000} })
	e.user(t, "alice", "pw", nil)
	p := e.login(t, "alice", "pw")
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				key := string(rune('a'+w)) + string(rune('a'+i))
				if err := e.svc.CheckQuota(ctx, p, domain.OpWrite); err != nil {
					t.Error(err)
					return
				}
				if err := e.svc.Write(ctx, p, key, []byte(key)); err != nil {
					t.Error(err)
					return
				}
				if v, err := e.svc.Read(ctx, p, key); err != nil || string(v) != key {
					t.Errorf("Read %s = %q %v", key, v, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestNewValidatesOptions(t *testing.T) {
	s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lim := ratelimit.NewLocal(ratelimit.Options{})
	full := app.Options{Accounts: s, Quotas: s, Sessions: s, KV: s, Limiter: lim, PasswordParams: cheap}
	tests := []struct {
		name    string
		mutate  func(*app.Options)
		wantErr string
	}{
		{"no accounts", func(o *app.Options) { o.Accounts = nil }, "Options.Accounts is required"},
		{"no quotas", func(o *app.Options) { o.Quotas = nil }, "Options.Quotas is required"},
		{"no sessions", func(o *app.Options) { o.Sessions = nil }, "Options.Sessions is required"},
		{"no kv", func(o *app.Options) { o.KV = nil }, "Options.KV is required"},
		{"no limiter", func(o *app.Options) { o.Limiter = nil }, "Options.Limiter is required"},
		{"negative ttl", func(o *app.Options) { o.SessionTTL = -1 }, "SessionTTL"},
		{"bad default quota", func(o *app.Options) { o.DefaultQuota.Read = 200000 }, "DefaultQuota"},
		{"huge password memory", func(o *app.Options) { o.PasswordParams.MemoryKiB = 1 << 30 }, "PasswordParams"},
		{"watch without cache", func(o *app.Options) { o.SessionCacheWatch = true }, "SessionCacheWatch needs a SessionCacheTTL"},
		{"watch on a store that cannot", func(o *app.Options) { o.SessionCacheWatch, o.SessionCacheTTL = true, time.Second }, "not a domain.SessionWatcher"},
		{"defaults", func(o *app.Options) {}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := full
			tc.mutate(&o)
			svc, err := app.New(o)
			if tc.wantErr == "" {
				if err != nil || svc.SessionTTL() != app.DefaultSessionTTL || svc.ValueMaxBytes() != domain.DefaultValueMaxBytes {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New: %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

// watchedSessions is a session store whose changes the test reports by hand: WatchSessions
// hands the observer over and waits for the end of the context.
type watchedSessions struct {
	domain.Sessions
	lookups  atomic.Int64
	observer chan domain.SessionObserver
}

func (w *watchedSessions) SessionByID(ctx context.Context, id string) (domain.Session, error) {
	w.lookups.Add(1)
	return w.Sessions.SessionByID(ctx, id)
}

func (w *watchedSessions) WatchSessions(ctx context.Context, o domain.SessionObserver) error {
	w.observer <- o
	<-ctx.Done()
	return ctx.Err()
}

// TestWatchedSessionCache: in watched mode the cache serves only while the watcher reports
// changes, and a reported change ends the cached session at once.
func TestWatchedSessionCache(t *testing.T) {
	var ws *watchedSessions
	e := newEnv(t, func(o *app.Options) {
		ws = &watchedSessions{Sessions: o.Sessions, observer: make(chan domain.SessionObserver, 1)}
		o.Sessions, o.SessionCacheTTL, o.SessionCacheWatch = ws, time.Minute, true
	})
	e.user(t, "alice", "pw", nil)
	ctx := context.Background()
	res, err := e.svc.Login(ctx, "alice", "pw")
	if err != nil {
		t.Fatal(err)
	}
	authN := func(n int) { // n calls of Authenticate, all successful
		t.Helper()
		for range n {
			if _, err := e.svc.Authenticate(ctx, res.Token, "alice"); err != nil {
				t.Fatal(err)
			}
		}
	}
	wantLookups := func(what string, n int64) {
		t.Helper()
		if got := ws.lookups.Swap(0); got != n {
			t.Fatalf("%s: %d store lookups, want %d", what, got, n)
		}
	}
	authN(3)
	wantLookups("before WatchSessions", 3)

	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.svc.WatchSessions(wctx) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("WatchSessions: %v", err)
		}
	}()
	o := <-ws.observer
	authN(3)
	wantLookups("watcher not live yet", 3)
	o.SessionsWatched(true)
	authN(3)
	wantLookups("watched", 1)

	p, err := e.svc.Authenticate(ctx, res.Token, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.DeleteSession(ctx, p.SessionID); err != nil { // a logout elsewhere
		t.Fatal(err)
	}
	o.SessionsChanged([]string{p.SessionID})
	if _, err := e.svc.Authenticate(ctx, res.Token, ""); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("after a reported logout elsewhere: %v", err)
	}
	wantLookups("after the change", 1)

	res, _ = e.svc.Login(ctx, "alice", "pw")
	authN(2)
	wantLookups("new session", 1)
	o.SessionsWatched(false)
	authN(2)
	wantLookups("watcher lost", 2)
}

func TestWatchSessionsNeedsWatchedCache(t *testing.T) {
	e := newEnv(t, func(o *app.Options) { o.SessionCacheTTL = time.Second })
	if err := e.svc.WatchSessions(context.Background()); err == nil {
		t.Fatal("WatchSessions without Options.SessionCacheWatch: no error")
	}
}
