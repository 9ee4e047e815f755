package api_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/metadata"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/api"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/mysql"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/ratelimit"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/redis"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/sqlite"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testenv"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

// testTimeout bounds every wait of a test.
const testTimeout = 20 * time.Second

// cheap is the argon2id cost of test users and of the dummy hash (tests only).
var cheap = domain.PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}

// clock is a fake clock shared by the service, the SQLite store and the local limiter.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now()} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// stores is one opening of a backend's stores.
type stores struct {
	accounts domain.Accounts
	quotas   domain.Quotas
	sessions domain.Sessions
	kv       domain.KV
	close    func()
}

// backend opens the same underlying data each time open is called (a restart).
type backend struct {
	name string
	open func(t testing.TB, clk *clock) *stores
}

// forEachBackend runs f on the embedded SQLite store (always) and on MySQL+Redis (from
// POCKET_TEST_MYSQL_DSN and POCKET_TEST_REDIS_ADDR; skipped without them, fatal when CI=true).
func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Run("sqlite", func(t *testing.T) { f(t, sqliteBackend(t)) })
	t.Run("mysql+redis", func(t *testing.T) { f(t, mysqlRedisBackend(t)) })
}

func sqliteBackend(t *testing.T) backend {
	dir := t.TempDir()
	return backend{name: "sqlite", open: func(t testing.TB, clk *clock) *stores {
		t.Helper()
		s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: dir, Synchronous: "NORMAL", Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		st := &stores{accounts: s, quotas: s, sessions: s, kv: s, close: func() { s.Close() }}
		t.Cleanup(st.close)
		return st
	}}
}

func mysqlRedisBackend(t testing.TB) backend {
	dsn, addr := testenv.MySQLDSN(t), testenv.RedisAddr(t)
	prefix := testenv.RedisPrefix(t, addr)
	return backend{name: "mysql+redis", open: func(t testing.TB, _ *clock) *stores {
		t.Helper()
		ctx := context.Background()
		ms, err := mysql.Open(ctx, mysql.Options{DSN: dsn})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ms.Migrate(ctx); err != nil {
			ms.Close()
			t.Fatal(err)
		}
		rs, err := redis.Open(ctx, redis.Options{Addr: addr, Prefix: prefix})
		if err != nil {
			ms.Close()
			t.Fatal(err)
		}
		var once sync.Once
		st := &stores{accounts: ms, quotas: ms, sessions: rs, kv: rs, close: func() { once.Do(func() { rs.Close(); ms.Close() }) }}
		t.Cleanup(st.close)
		return st
	}}
}

// server is one etserver RPC server on loopback with a dora client to it.
type server struct {
	addr   string
	reg    *prometheus.Registry
	client *dora.Client
	kv     kvpb.StoreClient
	stop   func()
}

// serverOpts are the app options every test server uses: the fake clock everywhere, a
// small value limit, cheap hashing. mutate may change them.
func startServer(t testing.TB, st *stores, clk *clock, mutate func(*app.Options)) *server {
	t.Helper()
	opts := app.Options{
		Accounts: st.accounts, Quotas: st.quotas, Sessions: st.sessions, KV: st.kv,
		Limiter:        ratelimit.NewLocal(ratelimit.Options{Now: clk.Now}),
		ValueMaxBytes:  testValueMax,
		SessionTTL:     time.Hour,
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
	if opts.SessionCacheWatch {
		wctx, cancel := context.WithCancel(context.Background())
		watched := make(chan error, 1)
		go func() { watched <- svc.WatchSessions(wctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-watched; err != context.Canceled {
				t.Errorf("WatchSessions: %v", err)
			}
		})
	}
	reg := prometheus.NewRegistry()
	m, err := api.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.NewServer(api.Options{Service: svc, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	addr, c, stop := serveLoopback(t, srv)
	s := &server{addr: addr, reg: reg, client: c, kv: kvpb.NewStoreClient(c), stop: stop}
	t.Cleanup(s.stop)
	return s
}

// serveLoopback serves srv on a loopback port and dials it. stop (safe to call more than
// once) closes the client, stops the server gracefully and checks that Serve ended cleanly.
func serveLoopback(t testing.TB, srv *dora.Server) (addr string, c *dora.Client, stop func()) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	c, err = dora.NewClient(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			if err := srv.GracefulStop(ctx); err != nil {
				t.Errorf("GracefulStop: %v", err)
			}
			if err := <-served; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	return lis.Addr().String(), c, stop
}

// testValueMax is the value limit of test servers.
const testValueMax = 1024

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// withToken returns ctx carrying metadata token (and username, the legacy key, when given).
func withToken(ctx context.Context, token string, username ...string) context.Context {
	md := metadata.Pairs(api.MDToken, token)
	if len(username) > 0 {
		md.Set(api.MDUsername, username[0])
	}
	return metadata.NewOutgoingContext(ctx, md)
}

// createUser makes a user with the default quota.
func createUser(t testing.TB, st *stores, name, password string) {
	t.Helper()
	h, err := domain.HashPassword(password, cheap)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.accounts.CreateUser(context.Background(), name, h); err != nil {
		t.Fatal(err)
	}
}

func login(t testing.TB, s *server, user, password string) string {
	t.Helper()
	rsp, err := s.kv.Login(ctxT(t), &kvpb.LoginReq{Username: user, Password: password})
	if err != nil || rsp.GetStatus().GetCode() != kvpb.CODE_OK || len(rsp.GetToken()) != 32 {
		t.Fatalf("Login(%s): %v %v", user, rsp, err)
	}
	return rsp.GetToken()
}
