package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"

	"github.com/seed857a6cbd/pocket/entrytask-server/infra/config"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

const rpcTestTimeout = 60 * time.Second

// roundTrip logs in as user (password = username), writes and reads a key.
func roundTrip(t *testing.T, c *dora.Client, user string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rpcTestTimeout)
	defer cancel()
	kv := kvpb.NewStoreClient(c)
	lr, err := kv.Login(ctx, &kvpb.LoginReq{Username: user, Password: user})
	if err != nil || lr.GetStatus().GetCode() != kvpb.CODE_OK {
		t.Fatalf("Login: %v %v", lr, err)
	}
	ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs("token", lr.GetToken()))
	if _, err := kv.WriteSecureMessage(ctx, &kvpb.WriteSecureMessageReq{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	r, err := kv.ReadSecureMessage(ctx, &kvpb.ReadSecureMessageReq{Key: []byte("k")})
	if err != nil || string(r.GetValue()) != "v" {
		t.Fatalf("Read: %v %v", r, err)
	}
}

// TestBinaryServe builds the real etserver, seeds a temp data dir, runs `serve --listen
// 127.0.0.1:0`, reads the bound address from the "etserver: listening on" line on stderr,
// makes calls, sends SIGTERM and expects a clean exit.
func TestBinaryServe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not on PATH: %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "etserver")
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	env := []string{} // keep ETSERVER_* of the caller's environment out
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETSERVER_") {
			env = append(env, kv)
		}
	}
	seed := exec.Command(bin, "seed", "--data-dir", data, "--users", "2")
	seed.Env = env
	if out, err := seed.CombinedOutput(); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}

	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", data)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	addrCh := make(chan string, 1)
	var logs bytes.Buffer
	logw := &syncWriter{w: &logs}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			logw.Write([]byte(line + "\n"))
			if a, ok := strings.CutPrefix(line, listeningPrefix); ok {
				addrCh <- a
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() { <-readDone; exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	var addr string
	select {
	case addr = <-addrCh:
	case err := <-exited:
		t.Fatalf("etserver serve exited early: %v\n%s", err, logs.String())
	case <-time.After(rpcTestTimeout):
		t.Fatalf("no %q line within %s\n%s", listeningPrefix, rpcTestTimeout, logs.String())
	}
	c, err := dora.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, "1")
	c.Close()

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("etserver serve exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(rpcTestTimeout):
		t.Fatalf("etserver serve did not exit after SIGTERM\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "msg=stopped") {
		t.Fatalf("no clean stop in the log:\n%s", logs.String())
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
	if out, err := run(t, "seed", "--data-dir", data, "--users", "1"); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	cfg, err := config.Load(config.Sources{Flags: map[string]any{"data_dir": data, "listen": "127.0.0.1:0", "admin_listen": ""},
		Env: []string{"ETSERVER_TLS_CERT=" + filepath.Join(dir, "server.pem"), "ETSERVER_TLS_KEY=" + filepath.Join(dir, "server-key.pem"),
			"ETSERVER_TLS_CLIENT_CA=" + filepath.Join(dir, "ca.pem")}})
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
