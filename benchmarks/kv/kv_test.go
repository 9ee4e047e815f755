package kv_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
	"github.com/seed857a6cbd/pocket/benchmarks/kv"
)

// testUsers is how many users the tests seed: user 40 reads 123/s (burst 12) and writes
// 43/s (burst 4); user 1 reads 6/s with a burst of 1.
const testUsers = 40

// The environment variables naming the real MySQL/MariaDB and Redis (scripts/services.sh).
const (
	mysqlVar = "POCKET_TEST_MYSQL_DSN"
	redisVar = "POCKET_TEST_REDIS_ADDR"
)

// store is one store to test or benchmark on.
type store struct {
	mode string
	opts kv.StoreOptions
}

// stores lists the stores to test: the embedded one always, MySQL + Redis when the
// environment names them (skipped otherwise; a failure when CI=true).
func stores(t testing.TB) []store {
	out := []store{{kv.ModeEmbedded, kv.StoreOptions{Binary: etserverBin, Users: testUsers}}}
	dsn, addr := os.Getenv(mysqlVar), os.Getenv(redisVar)
	switch {
	case dsn != "" && addr != "":
		out = append(out, store{kv.ModeMySQLRedis, kv.StoreOptions{Binary: etserverBin, Users: testUsers, MySQLDSN: dsn, RedisAddr: addr}})
	case os.Getenv("CI") == "true":
		t.Fatalf("%s and %s are required when CI=true", mysqlVar, redisVar)
	default:
		t.Logf("%s / %s not set: the MySQL + Redis store is not tested", mysqlVar, redisVar)
	}
	return out
}

// startServer starts etserver on the store opts select and stops it at the end of the test.
func startServer(t testing.TB, opts kv.StoreOptions) *kv.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := kv.StartServer(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	return srv
}

// dial returns a client of f connected to srv, closed at the end of the test (before srv).
func dial(t testing.TB, f kv.Framework, srv *kv.Server) kv.Client {
	t.Helper()
	c, err := f.Dial(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

func TestRegistry(t *testing.T) {
	names := kv.Names()
	if !slices.Equal(names, []string{"etserver"}) {
		t.Fatalf("Names() = %v, want [etserver]", names)
	}
	if _, err := kv.Lookup("nope"); err == nil {
		t.Error("Lookup(nope) succeeded")
	}
}

func TestStartServerOptions(t *testing.T) {
	_, err := kv.StartServer(context.Background(), kv.StoreOptions{Binary: etserverBin, MySQLDSN: "root@tcp(127.0.0.1:1)/x"})
	if err == nil {
		t.Fatal("a MySQL DSN without a Redis address was accepted")
	}
	if _, err := kv.StartServer(context.Background(), kv.StoreOptions{Binary: etserverBin, Users: -1}); err == nil {
		t.Fatal("-1 users was accepted")
	}
	if _, err := kv.StartServer(context.Background(), kv.StoreOptions{}); err == nil {
		t.Fatal("no binary was accepted")
	}
}

// TestUsage checks that the server's usage advances with calls.
func TestUsage(t *testing.T) {
	srv := startServer(t, kv.StoreOptions{Binary: etserverBin, Users: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before, err := srv.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, err := kv.Lookup("etserver")
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, f, srv)
	for range 10 {
		if _, err := c.Login(ctx, "1", "1"); err != nil {
			t.Fatal(err)
		}
	}
	after, err := srv.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := after.Sub(before)
	if d.Mallocs == 0 || d.AllocBytes == 0 || d.Wall <= 0 {
		t.Fatalf("usage did not advance over 10 logins: %+v", d)
	}
}

// TestServers checks etserver's answers on each store: login (right and wrong password), an
// unauthenticated read, write then read, a missing key, and the read quota.
func TestServers(t *testing.T) {
	for _, st := range stores(t) {
		t.Run(st.mode, func(t *testing.T) {
			srv := startServer(t, st.opts)
			if srv.Mode != st.mode {
				t.Fatalf("server mode %q, want %q", srv.Mode, st.mode)
			}
			for _, name := range kv.Names() {
				t.Run(name, func(t *testing.T) {
					f, err := kv.Lookup(name)
					if err != nil {
						t.Fatal(err)
					}
					checkServer(t, dial(t, f, srv))
				})
			}
		})
	}
}

func checkServer(t *testing.T, c kv.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := []byte("k-" + t.Name())
	value := bytes.Repeat([]byte("v"), kv.DefaultValue)

	if _, err := c.Login(ctx, "40", "wrong"); !errors.Is(err, kv.ErrIncorrectCredentials) {
		t.Errorf("login with a wrong password: %v, want ErrIncorrectCredentials", err)
	}
	if _, err := c.Login(ctx, "no-such-user", "x"); !errors.Is(err, kv.ErrIncorrectCredentials) {
		t.Errorf("login of an unknown user: %v, want ErrIncorrectCredentials", err)
	}
	if _, err := c.Read(ctx, key); !errors.Is(err, kv.ErrUnauthenticated) {
		t.Errorf("read without a token: %v, want ErrUnauthenticated", err)
	}
	forged := c.WithToken(ctx, "0123456789abcdef0123456789abcdef")
	if _, err := c.Read(forged, key); !errors.Is(err, kv.ErrUnauthenticated) {
		t.Errorf("read with a forged token: %v, want ErrUnauthenticated", err)
	}
	if err := c.Write(forged, key, value); !errors.Is(err, kv.ErrUnauthenticated) {
		t.Errorf("write with a forged token: %v, want ErrUnauthenticated", err)
	}

	tok, err := c.Login(ctx, "40", "40")
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	authed := c.WithToken(ctx, tok)
	if _, err := c.Read(authed, key); !errors.Is(err, kv.ErrKeyNotExist) {
		t.Errorf("read of a missing key: %v, want ErrKeyNotExist", err)
	}
	if err := c.Write(authed, key, value); err != nil {
		t.Fatalf("write: %v", err)
	}
	got, err := c.Read(authed, key)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, value) {
		t.Errorf("read %d bytes, want the %d written", len(got), len(value))
	}

	// User 1 reads 6/s with a burst of 1: back-to-back reads are soon refused.
	tok1, err := c.Login(ctx, "1", "1")
	if err != nil {
		t.Fatalf("login as 1: %v", err)
	}
	one := c.WithToken(ctx, tok1)
	var refused error
	for i := 0; i < 20 && refused == nil; i++ {
		if _, err := c.Read(one, key); errors.Is(err, kv.ErrResourceExhausted) {
			refused = err
		} else if err != nil && !errors.Is(err, kv.ErrKeyNotExist) {
			t.Fatalf("read as user 1: %v", err)
		}
	}
	if refused == nil {
		t.Error("20 back-to-back reads of user 1 (6/s, burst 1) were all allowed")
	}
}

// TestLoad runs the suite's load briefly.
func TestLoad(t *testing.T) {
	// User 200 writes 203/s with a burst of 20: room for both servers' writes.
	const user = 200
	srv := startServer(t, kv.StoreOptions{Binary: etserverBin, Users: user})
	for _, name := range kv.Names() {
		f, err := kv.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		c := dial(t, f, srv)
		for _, op := range kv.Ops {
			t.Run(name+"/"+op, func(t *testing.T) {
				// The context bounds the login only: the workers outlive it.
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				newWorker, err := kv.Load{Op: op, User: user}.Prepare(ctx, c)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				calls := make([]harness.Call, 2)
				for i := range calls {
					w, err := newWorker(i)
					if err != nil {
						t.Fatal(err)
					}
					calls[i] = w.Call
				}
				if err := harness.NewFixed(calls).RunN(4); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
	if _, err := (kv.Load{Op: "delete"}).Prepare(context.Background(), nil); err == nil {
		t.Error("Prepare accepted op delete")
	}
	if _, err := (kv.Load{Op: kv.OpRead, Users: -1}).Prepare(context.Background(), nil); err == nil {
		t.Error("Prepare accepted -1 users")
	}
}
