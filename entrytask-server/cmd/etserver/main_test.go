package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/config"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testenv"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testkit"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	a := newApp()
	var out, errOut bytes.Buffer
	a.Writer, a.ErrWriter = &out, &errOut
	err := a.Run(append([]string{"etserver"}, args...))
	return out.String() + errOut.String(), err
}

func TestCommandsEmbedded(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"migrate", []string{"migrate", "--data-dir", data}, "migrations applied (embedded store)"},
		{"seed", []string{"seed", "--insecure-fast-hashes", "--data-dir", data, "--users", "30", "--batch", "8"}, "seeded 30 users (0 already existed)"},
		{"seed fixture cost", []string{"seed", "--insecure-fast-hashes", "--data-dir", data, "--users", "30"}, "argon2id m=8KiB t=1 p=1"},
		{"seed configured cost", []string{"seed", "--data-dir", data, "--users", "32"}, "seeded 2 users (30 already existed) in"},
		{"seed configured cost named", []string{"seed", "--data-dir", data, "--users", "32"}, "argon2id m=19456KiB t=2 p=1"},
		{"certs", []string{"certs", "--dir", filepath.Join(dir, "certs")}, "server.pem"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, tc.args...)
			if err != nil || !strings.Contains(out, tc.want) {
				t.Fatalf("etserver %v: %v\n%s", tc.args, err, out)
			}
		})
	}
	if _, err := run(t, "seed", "--data-dir", data); err == nil {
		t.Fatal("seed without --users accepted")
	}
	if _, err := run(t, "migrate", "--data-dir", data, "--log-level", "loud"); err == nil || !strings.Contains(err.Error(), "config: log.level") {
		t.Fatalf("bad --log-level: %v", err)
	}
}

// TestUsageErrors: a command line mistake is one line naming it and the help to read, exit
// status 2; a failure of the command itself is exit status 1. Flags appear only on the
// commands they apply to.
func TestUsageErrors(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	tests := []struct {
		name string
		args []string
		want string // in the error
		code int
	}{
		{"no command", nil, "no command given; run 'etserver --help'", exitUsage},
		{"unknown command", []string{"bogus"}, `unknown command "bogus"; run 'etserver --help'`, exitUsage},
		{"unknown subcommand", []string{"user", "bogus"}, `unknown command "bogus"; run 'etserver user --help'`, exitUsage},
		{"no subcommand", []string{"user"}, "no command given; run 'etserver user --help'", exitUsage},
		{"unknown flag", []string{"serve", "--bogus"}, "serve: flag provided but not defined: -bogus; run 'etserver serve --help'", exitUsage},
		{"serve flag on migrate", []string{"migrate", "--listen", "127.0.0.1:0"}, "migrate: flag provided but not defined: -listen", exitUsage},
		{"tls flag on seed", []string{"seed", "--tls-cert", "x.pem", "--users", "1"}, "seed: flag provided but not defined: -tls-cert", exitUsage},
		{"help of an unknown command", []string{"help", "bogus"}, "No help topic for 'bogus'", exitUsage},
		{"argument to serve", []string{"serve", "extra"}, `serve takes no arguments, got ["extra"]`, exitUsage},
		{"argument to migrate", []string{"migrate", "--data-dir", data, "extra"}, `migrate takes no arguments`, exitUsage},
		{"unknown root flag", []string{"--bogus"}, "flag provided but not defined: -bogus; run 'etserver --help'", exitUsage},
		{"seed without users", []string{"seed", "--data-dir", data}, "seed: --users is required", exitUsage},
		{"user add without name", []string{"user", "add", "--data-dir", data}, "user add takes one argument", exitUsage},
		{"bad config value", []string{"migrate", "--data-dir", data, "--log-format", "xml"}, "config: log.format: must be text or json", exitFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("etserver %v: %v, want an error containing %q\n%s", tc.args, err, tc.want, out)
			}
			var line bytes.Buffer
			if code := exitStatus(err, &line, nil); code != tc.code {
				t.Errorf("exit status %d, want %d", code, tc.code)
			}
			if strings.Count(line.String(), "\n") != 1 {
				t.Errorf("error printed on more than one line: %q", line.String())
			}
		})
	}
	for _, args := range [][]string{{"migrate", "--help"}, {"seed", "--help"}, {"user", "add", "--help"}} {
		out, err := run(t, args...)
		if err != nil || strings.Contains(out, "--listen") || strings.Contains(out, "--tls-cert") || !strings.Contains(out, "--data-dir") {
			t.Errorf("etserver %v: %v; want store flags and no serve flags:\n%s", args, err, out)
		}
	}
	out, err := run(t, "serve", "--help")
	for _, f := range []string{"--listen", "--admin-listen", "--admin-pprof", "--tls-cert", "--tls-key", "--tls-client-ca", "--log-format", "--log-level", "--config"} {
		if err != nil || !strings.Contains(out, f) {
			t.Errorf("etserver serve --help lacks %s (%v):\n%s", f, err, out)
		}
	}
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// startServe runs serve with cfg on free loopback ports and returns the RPC and admin
// addresses and stop, which cancels serve's context (as SIGTERM does) and returns what
// serve returned.
func startServe(t *testing.T, cfg config.Config) (rpcAddr, adminAddr string, stop func() error) {
	t.Helper()
	cfg.AdminListen, cfg.Listen = "127.0.0.1:0", "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	addrCh := make(chan [2]string, 1)
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		done <- serve(ctx, cfg, &syncWriter{w: &logs}, func(rpc, a string) { addrCh <- [2]string{rpc, a} })
	}()
	stopped := false
	var serveErr error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case serveErr = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("serve did not stop")
			}
		}
		return serveErr
	}
	t.Cleanup(func() { stop() })
	select {
	case a := <-addrCh:
		return a[0], a[1], stop
	case err := <-done:
		stopped, serveErr = true, err
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not become ready")
	}
	return "", "", stop
}

// serveAndProbe runs serve with cfg, checks the health service says SERVING, probes the
// admin endpoints (/metrics must also hold each of wantMetrics), then stops it.
func serveAndProbe(t *testing.T, cfg config.Config, wantReady string, wantMetrics ...string) {
	t.Helper()
	rpcAddr, addr, stop := startServe(t, cfg)
	checkServing(t, rpcAddr)
	// One call, so that /metrics has a call counted by method and code.
	rc, err := dora.NewClient(rpcAddr)
	if err != nil {
		t.Fatal(err)
	}
	lctx, lcancel := context.WithTimeout(context.Background(), 30*time.Second)
	lr, err := kvpb.NewStoreClient(rc).Login(lctx, &kvpb.LoginReq{Username: "nobody", Password: "x"})
	lcancel()
	rc.Close()
	if err != nil || lr.GetStatus().GetCode() != kvpb.CODE_INCORRECT_USERNAME_OR_PASSWORD {
		t.Fatalf("Login of an unknown user: %v %v", lr, err)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	base := "http://" + addr
	checks := []struct {
		path string
		code int
		want string
	}{
		{"/healthz", 200, "ok"},
		{"/readyz", 200, wantReady},
		{"/metrics", 200, "go_goroutines"},
		{"/metrics", 200, "go_sql_open_connections"},
		{"/metrics", 200, `etserver_rpc_duration_seconds_bucket{method="/kv.Store/ReadSecureMessage"`},
		{"/metrics", 200, "etserver_rpc_legacy_calls_total"},
		{"/metrics", 200, `etserver_rpc_app_status_total{method="/kv.Store/Login",status="INCORRECT_USERNAME_OR_PASSWORD"} 1`},
		{"/metrics", 200, `etserver_rpc_calls_total{code="Unavailable",method="/kv.Store/WriteSecureMessage"} 0`},
		{"/metrics", 200, `etserver_build_info{goversion="go`},
		{"/debug/pprof/", 404, "not found"}, // admin.pprof is off by default
	}
	for _, m := range wantMetrics {
		checks = append(checks, struct {
			path string
			code int
			want string
		}{"/metrics", 200, m})
	}
	// dora counts a call just after sending its answer: wait for the Login to show.
	const loginCounted = `etserver_rpc_calls_total{code="OK",method="/kv.Store/Login"} 1`
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, body := get(t, c, base+"/metrics"); strings.Contains(body, loginCounted) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics has no %q 10s after the call", loginCounted)
		}
	}
	for _, ch := range checks {
		code, body := get(t, c, base+ch.path)
		if code != ch.code || !strings.Contains(body, ch.want) {
			t.Errorf("GET %s = %d %q, want %d containing %q", ch.path, code, body, ch.code, ch.want)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v", err)
	}
}

func TestServeEmbedded(t *testing.T) {
	cfg, err := config.Load(config.Sources{Flags: map[string]any{"data_dir": t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	serveAndProbe(t, cfg, "ready: sqlite")
}

// TestServeAdminPprof: with admin.pprof the admin port also serves /debug/pprof/, and
// /metrics and /healthz are unaffected.
func TestServeAdminPprof(t *testing.T) {
	cfg, err := config.Load(config.Sources{Flags: map[string]any{"data_dir": t.TempDir(), "admin.pprof": true}})
	if err != nil {
		t.Fatal(err)
	}
	_, addr, stop := startServe(t, cfg)
	c := &http.Client{Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	for path, want := range map[string]string{"/debug/pprof/": "goroutine", "/metrics": "etserver_build_info", "/healthz": "ok"} {
		if code, body := get(t, c, "http://"+addr+path); code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s = %d, want 200 containing %q", path, code, want)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestServeMySQLRedis(t *testing.T) {
	dsn, addr := testenv.MySQLDSN(t), testenv.RedisAddr(t)
	cfg, err := config.Load(config.Sources{Flags: map[string]any{"mysql.dsn": dsn, "redis.addr": addr, "redis.prefix": testenv.RedisPrefix(t, addr)}})
	if err != nil {
		t.Fatal(err)
	}
	serveAndProbe(t, cfg, "ready: mysql, redis", "etserver_redis_pool_connections")
}

// TestServeValueCacheMetrics: with cache.values_mib set, /metrics has the value cache's
// series (its budget, and the watch live).
func TestServeValueCacheMetrics(t *testing.T) {
	dsn, addr := testenv.MySQLDSN(t), testenv.RedisAddr(t)
	cfg, err := config.Load(config.Sources{Flags: map[string]any{"mysql.dsn": dsn, "redis.addr": addr,
		"redis.prefix": testenv.RedisPrefix(t, addr), "cache.values_mib": 1}})
	if err != nil {
		t.Fatal(err)
	}
	serveAndProbe(t, cfg, "ready: mysql, redis", "etserver_value_cache_budget_bytes 1.048576e+06",
		"etserver_value_cache_hits_total 0", "etserver_value_cache_misses_total")
}

func TestServeTLSConfig(t *testing.T) {
	dir := t.TempDir()
	if _, err := run(t, "certs", "--dir", dir); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Sources{Flags: map[string]any{
		"tls.cert": filepath.Join(dir, "server.pem"), "tls.key": filepath.Join(dir, "server-key.pem"),
		"tls.client_ca": filepath.Join(dir, "ca.pem"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := serverTLS(cfg)
	if err != nil || tc == nil || tc.ClientCAs == nil || len(tc.Certificates) != 1 {
		t.Fatalf("serverTLS: %+v %v", tc, err)
	}
	os.WriteFile(filepath.Join(dir, "bad.pem"), []byte("nope"), 0o600)
	cfg.TLS.ClientCA = filepath.Join(dir, "bad.pem")
	if _, err := serverTLS(cfg); err == nil || !strings.Contains(err.Error(), "tls.client_ca") {
		t.Fatalf("bad client CA: %v", err)
	}
}
