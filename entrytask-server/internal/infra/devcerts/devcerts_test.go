package devcerts_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/devcerts"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

// TestMutualTLSHandshake writes a bundle and runs a real mTLS exchange on loopback with it.
func TestMutualTLSHandshake(t *testing.T) {
	dir := t.TempDir()
	f, err := devcerts.Write(dir, devcerts.Options{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(f.ServerKey); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("server key mode: %v %v", info.Mode(), err)
	}
	caPEM, _ := os.ReadFile(f.CACert)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA PEM")
	}
	serverCert, err := tls.LoadX509KeyPair(f.ServerCert, f.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := tls.LoadX509KeyPair(f.ClientCert, f.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		cn  string
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			done <- result{err: err}
			return
		}
		io.WriteString(tc, "hi")
		done <- result{cn: tc.ConnectionState().PeerCertificates[0].Subject.CommonName}
	}()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), &tls.Config{
		RootCAs: pool, Certificates: []tls.Certificate{clientCert}, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("read %q %v", buf, err)
	}
	conn.Close()
	r := <-done
	if r.err != nil || r.cn != devcerts.DefaultClientName {
		t.Fatalf("server side: %+v", r)
	}
}

func TestWriteRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	if _, err := devcerts.Write(dir, devcerts.Options{}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := devcerts.Write(dir, devcerts.Options{}, false); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("second Write: %v", err)
	}
	if _, err := devcerts.Write(dir, devcerts.Options{}, true); err != nil {
		t.Fatalf("forced Write: %v", err)
	}
}

func TestHostsAndValidity(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	b, err := devcerts.Generate(devcerts.Options{Hosts: []string{"kv.test", "127.0.0.2"}, Validity: 48 * time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "s.pem"), b.ServerCert, 0o600)
	cert, err := tls.X509KeyPair(b.ServerCert, b.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("kv.test"); err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("127.0.0.2"); err != nil {
		t.Fatal(err)
	}
	if leaf.NotAfter.After(now.Add(49*time.Hour)) || leaf.NotBefore.After(now) {
		t.Fatalf("validity %v..%v", leaf.NotBefore, leaf.NotAfter)
	}
	if _, err := devcerts.Generate(devcerts.Options{Validity: -time.Hour}); err == nil {
		t.Fatal("negative validity accepted")
	}
}
