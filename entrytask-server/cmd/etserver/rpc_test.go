package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/config"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testkit"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

const rpcTestTimeout = 60 * time.Second

// login logs in as user (password = username) and returns a context that carries the
// session token, with rpcTestTimeout, and the client of the Store.
func login(t *testing.T, c *dora.Client, user string) (context.Context, context.CancelFunc, kvpb.StoreClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rpcTestTimeout)
	kv := kvpb.NewStoreClient(c)
	lr, err := kv.Login(ctx, &kvpb.LoginReq{Username: user, Password: user})
	if err != nil || lr.GetStatus().GetCode() != kvpb.CODE_OK {
		cancel()
		t.Fatalf("Login: %v %v", lr, err)
	}
	return metadata.NewOutgoingContext(ctx, metadata.Pairs("token", lr.GetToken())), cancel, kv
}

// roundTrip logs in as user (password = username), writes and reads a key.
func roundTrip(t *testing.T, c *dora.Client, user string) {
	t.Helper()
	ctx, cancel, kv := login(t, c, user)
	defer cancel()
	if _, err := kv.WriteSecureMessage(ctx, &kvpb.WriteSecureMessageReq{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	r, err := kv.ReadSecureMessage(ctx, &kvpb.ReadSecureMessageReq{Key: []byte("k")})
	if err != nil || string(r.GetValue()) != "v" {
		t.Fatalf("Read: %v %v", r, err)
	}
}

// buildBinary builds the real etserver into a temporary directory. env is the test's
// environment without ETSERVER_* variables, for the processes it runs.
func buildBinary(t *testing.T) (bin string, env []string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin = filepath.Join(t.TempDir(), "etserver")
	if err := testkit.Build(testkit.Context(t, 5*time.Minute), "", bin, "."); err != nil {
		t.Fatal(err)
	}
	return bin, testkit.EnvWithout("ETSERVER_")
}

// runBinary runs bin with args to completion and fails the test unless it succeeds.
func runBinary(t *testing.T, bin string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("etserver %v: %v\n%s", args, err, out)
	}
}

// binaryServer is a running `etserver serve` process (the kit's harness) with the addresses
// its "listening" record names.
type binaryServer struct {
	*testkit.Proc
	addr  string // RPC address
	admin string // admin HTTP address ("" when off)
}

// log returns what the server wrote to stderr so far.
func (b *binaryServer) log() string { return b.Stderr.String() }

// listeningLine matches serve's listening record in either log format (see parseListening).
var listeningLine = regexp.MustCompile(`^.*(?: msg=` + listeningMsg + ` |"msg":"` + listeningMsg + `").*$`)

// startBinary runs `bin serve args...` and waits for its "listening" record (text or JSON).
// The process is killed when the test ends if it is still running.
func startBinary(t *testing.T, bin string, env []string, args ...string) *binaryServer {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Env = env
	b := &binaryServer{Proc: testkit.Start(t, cmd)}
	m, err := b.WaitLine(testkit.Context(t, rpcTestTimeout), &b.Stderr, listeningLine)
	if err != nil {
		t.Fatal(err)
	}
	var ok bool
	if b.addr, b.admin, ok = parseListening(m[0]); !ok {
		t.Fatalf("unreadable listening record %q", m[0])
	}
	return b
}

// parseListening reads serve's listening record in either log format: the text handler's
// "… msg=listening addr=HOST:PORT admin=HOST:PORT …" or the JSON handler's object.
func parseListening(line string) (rpc, admin string, ok bool) {
	if strings.HasPrefix(line, "{") {
		var rec struct{ Msg, Addr, Admin string }
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != listeningMsg {
			return "", "", false
		}
		return rec.Addr, rec.Admin, true
	}
	if !strings.Contains(line, " msg="+listeningMsg+" ") {
		return "", "", false
	}
	for _, f := range strings.Fields(line) {
		if v, found := strings.CutPrefix(f, "addr="); found {
			rpc = v
		} else if v, found := strings.CutPrefix(f, "admin="); found {
			admin = v
		}
	}
	return rpc, admin, rpc != ""
}

// TestBinaryServe builds the real etserver, seeds a temp data dir, runs `serve --listen
// 127.0.0.1:0`, reads the bound address from the "listening" record on stderr,
// makes calls, sends SIGTERM and expects a clean exit.
func TestBinaryServe(t *testing.T) {
	bin, env := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	runBinary(t, bin, env, "seed", "--insecure-fast-hashes", "--data-dir", data, "--users", "100")
	srv := startBinary(t, bin, env, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", data)
	c, err := dora.NewClient(srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, "1")
	valueLimit(t, c, "100")
	c.Close()

	stopBinary(t, srv)
	if !strings.Contains(srv.log(), "msg=stopped") {
		t.Fatalf("no clean stop in the log:\n%s", srv.log())
	}
}

// valueLimit checks the default value limit (kv.value_max_bytes, 1 MiB) through the real
// server's message size limit: a value of exactly 1 MiB is written, one byte more is
// InvalidArgument naming the limit (not a reset stream). user needs a write burst of 2.
func valueLimit(t *testing.T, c *dora.Client, user string) {
	t.Helper()
	ctx, cancel, kv := login(t, c, user)
	defer cancel()
	limit := config.Defaults()["kv.value_max_bytes"].(int)
	if _, err := kv.WriteSecureMessage(ctx, &kvpb.WriteSecureMessageReq{Key: []byte("big"), Value: bytes.Repeat([]byte("v"), limit)}); err != nil {
		t.Fatalf("write of a %d-byte value: %v", limit, err)
	}
	_, err := kv.WriteSecureMessage(ctx, &kvpb.WriteSecureMessageReq{Key: []byte("big"), Value: bytes.Repeat([]byte("v"), limit+1)})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), fmt.Sprint(limit)) {
		t.Fatalf("write of a %d-byte value: %v, want InvalidArgument naming %d", limit+1, err, limit)
	}
}

// TestBinaryKill9KeepsAcknowledgedWrites: writes the real `etserver serve` acknowledged to a
// client on the embedded store (default sqlite.synchronous FULL) are all there after the
// process is killed with SIGKILL and started again on the same data directory, and so is
// the session.
func TestBinaryKill9KeepsAcknowledgedWrites(t *testing.T) {
	const writes = 8 // within seeded user 100's write burst (103/s, burst 10)
	bin, env := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	runBinary(t, bin, env, "seed", "--insecure-fast-hashes", "--data-dir", data, "--users", "100")
	args := []string{"--listen", "127.0.0.1:0", "--admin-listen", "", "--data-dir", data}

	srv := startBinary(t, bin, env, args...)
	c, err := dora.NewClient(srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), rpcTestTimeout)
	defer cancel()
	lr, err := kvpb.NewStoreClient(c).Login(ctx, &kvpb.LoginReq{Username: "100", Password: "100"})
	if err != nil || lr.GetStatus().GetCode() != kvpb.CODE_OK {
		t.Fatalf("Login: %v %v", lr, err)
	}
	ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs("token", lr.GetToken()))
	for i := range writes {
		k := fmt.Sprint("key", i)
		if _, err := kvpb.NewStoreClient(c).WriteSecureMessage(ctx, &kvpb.WriteSecureMessageReq{Key: []byte(k), Value: []byte("value " + k)}); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	c.Close()
	if err := srv.Cmd.Process.Kill(); err != nil { // SIGKILL: nothing runs in the server
		t.Fatal(err)
	}
	<-srv.Done()
	if srv.Err() == nil {
		t.Fatal("etserver serve exited cleanly after SIGKILL")
	}

	srv2 := startBinary(t, bin, env, args...)
	c2, err := dora.NewClient(srv2.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	for i := range writes {
		k := fmt.Sprint("key", i)
		r, err := kvpb.NewStoreClient(c2).ReadSecureMessage(ctx, &kvpb.ReadSecureMessageReq{Key: []byte(k)})
		if err != nil || r.GetStatus().GetCode() != kvpb.CODE_OK || string(r.GetValue()) != "value "+k {
			t.Fatalf("acknowledged write %d after kill -9 and restart (same token): %v %v", i, r, err)
		}
	}
}

// TestServeMTLS: with tls.cert, tls.key and tls.client_ca serve requires a client
// certificate signed by the CA; a client presenting one works, one without cannot call.
func TestServeMTLS(t *testing.T) {
	dir := t.TempDir()
	if _, err := run(t, "certs", "--dir", dir); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if out, err := run(t, "seed", "--insecure-fast-hashes", "--data-dir", data, "--users", "1"); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	cfg, err := config.Load(config.Sources{Flags: map[string]any{"data_dir": data, "listen": "127.0.0.1:0", "admin_listen": "",
		"tls.cert": filepath.Join(dir, "server.pem"), "tls.key": filepath.Join(dir, "server-key.pem"),
		"tls.client_ca": filepath.Join(dir, "ca.pem")}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrCh := make(chan string, 1)
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() { done <- serve(ctx, cfg, &syncWriter{w: &logs}, func(rpc, _ string) { addrCh <- rpc }) }()
	var addr string
	select {
	case addr = <-addrCh:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(rpcTestTimeout):
		t.Fatal("serve did not become ready")
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	withCert, err := dora.NewClient(addr, dora.WithTLS(&tls.Config{RootCAs: roots, ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}}))
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, withCert, "1")
	withCert.Close()

	noCert, err := dora.NewClient(addr, dora.WithTLS(&tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}))
	if err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), rpcTestTimeout)
	_, err = kvpb.NewStoreClient(noCert).Login(cctx, &kvpb.LoginReq{Username: "1", Password: "1"})
	ccancel()
	noCert.Close()
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("call without a client certificate: %v, want Unavailable", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}
