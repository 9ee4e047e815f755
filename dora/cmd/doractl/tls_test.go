package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/health"
)

// pki is a test CA with a server certificate for 127.0.0.1 and a client certificate, all
// written as PEM files.
type pki struct {
	ca, serverCert, serverKey, clientCert, clientKey string
	serverTLS                                        *tls.Config
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "doractl test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string, tls.Certificate) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		certPath, keyPath := write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "EC PRIVATE KEY", keyDER)
		pair, err := tls.LoadX509KeyPair(certPath, keyPath)
		if err != nil {
			t.Fatal(err)
		}
		return certPath, keyPath, pair
	}
	p := pki{ca: write("ca.pem", "CERTIFICATE", caDER)}
	var serverPair tls.Certificate
	p.serverCert, p.serverKey, serverPair = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey, _ = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	p.serverTLS = &tls.Config{
		Certificates: []tls.Certificate{serverPair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}
	return p
}

func TestDoractlMutualTLS(t *testing.T) {
	p := newPKI(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := dora.NewServer(dora.ServerTLS(p.serverTLS))
	health.RegisterHealthServer(srv, health.NewServer())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	addr := lis.Addr().String()

	unavailable := 64 + int(codes.Unavailable)
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"mTLS", []string{"--cacert", p.ca, "--cert", p.clientCert, "--key", p.clientKey}, 0},
		{"skip verify with client cert", []string{"--insecure-skip-verify", "--cert", p.clientCert, "--key", p.clientKey}, 0},
		{"no client certificate", []string{"--cacert", p.ca}, unavailable},
		{"server not trusted", []string{"--tls", "--cert", p.clientCert, "--key", p.clientKey}, unavailable},
		{"wrong server name", []string{"--cacert", p.ca, "--cert", p.clientCert, "--key", p.clientKey, "--server-name", "other"}, unavailable},
		{"plain TCP to a TLS server", nil, unavailable},
		{"cert without key", []string{"--cert", p.clientCert}, exitUsage},
		{"missing CA file", []string{"--cacert", p.ca + ".nope"}, exitLocal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"health", addr, "--timeout", "3s"}, tc.args...)
			r := doractl(t, "", args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
		})
	}
}

// A server that is not there: Unavailable (78) at once, not after the timeout.
func TestDoractlUnreachable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	start := time.Now()
	r := doractl(t, "", "health", "--timeout", "5s", addr)
	if r.code != 64+int(codes.Unavailable) {
		t.Fatalf("exit %d, want %d: %s", r.code, 64+int(codes.Unavailable), r.stderr)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("took %v: waited for the timeout instead of failing fast", d)
	}
}
