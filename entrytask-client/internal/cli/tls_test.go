package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client certificate, written
// as PEM files.
type testPKI struct {
	dir                       string
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
	server                    tls.Certificate
	otherCAFile               string
}

func newCert(t *testing.T, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	now := time.Now()
	ca := func(serial int64, name string) *x509.Certificate {
		return &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		}
	}
	caCert, caKey, caPEM, _ := newCert(t, ca(1, "etclient test CA"), nil, nil)
	_, _, otherPEM, _ := newCert(t, ca(2, "another CA"), nil, nil)
	_, _, srvPEM, srvKeyPEM := newCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "etserver"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, caCert, caKey)
	_, _, cliPEM, cliKeyPEM := newCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(4), Subject: pkix.Name{CommonName: "etclient-user"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, caCert, caKey)

	p := &testPKI{dir: t.TempDir(), pool: x509.NewCertPool()}
	p.pool.AddCert(caCert)
	write := func(name string, b []byte) string {
		f := filepath.Join(p.dir, name)
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	p.caFile, p.otherCAFile = write("ca.pem", caPEM), write("other-ca.pem", otherPEM)
	p.certFile, p.keyFile = write("client.pem", cliPEM), write("client-key.pem", cliKeyPEM)
	srv, err := tls.X509KeyPair(srvPEM, srvKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	p.server = srv
	return p
}

// tlsServer is a mutual-TLS listener on loopback that completes one handshake per
// connection and reports the client certificate's common name.
func tlsServer(t *testing.T, p *testPKI) (addr string, peers <-chan string) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.pool,
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan string, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := c.(*tls.Conn)
			_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
			if err := tc.Handshake(); err == nil && len(tc.ConnectionState().PeerCertificates) > 0 {
				ch <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
			} else {
				ch <- "handshake failed"
			}
			_ = tc.Close()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return ln.Addr().String(), ch
}

// TestMutualTLS: --tls --ca --cert --tls-key build a configuration that completes a real
// mutual-TLS handshake with a server whose certificate the CA signed.
func TestMutualTLS(t *testing.T) {
	p := newTestPKI(t)
	addr, peers := tlsServer(t, p)

	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantPeer  string
		wantError string
	}{
		{name: "mutual TLS", args: []string{"--tls", "--ca", p.caFile, "--cert", p.certFile, "--tls-key", p.keyFile}, wantCode: ExitOK, wantPeer: "etclient-user"},
		{name: "server signed by another CA", args: []string{"--tls", "--ca", p.otherCAFile, "--cert", p.certFile, "--tls-key", p.keyFile}, wantCode: ExitFailure, wantError: "certificate signed by unknown authority"},
		{name: "unreadable CA", args: []string{"--tls", "--ca", filepath.Join(p.dir, "missing.pem")}, wantCode: ExitUsage, wantError: "--ca: open "},
		{name: "CA file without certificates", args: []string{"--tls", "--ca", p.keyFile}, wantCode: ExitUsage, wantError: "no PEM certificate found"},
		{name: "key not matching the certificate", args: []string{"--tls", "--ca", p.caFile, "--cert", p.caFile, "--tls-key", p.keyFile}, wantCode: ExitUsage, wantError: "--cert"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 1, nil)
			env := h.env()
			inner := env.Dial
			env.Dial = func(ctx context.Context, o kvclient.Options) (kvclient.Client, error) {
				if o.TLS == nil {
					return nil, errors.New("no TLS configuration")
				}
				// What the dora transport will do per endpoint: TLS over TCP with the
				// endpoint's host as the server name.
				cfg := o.TLS.Clone()
				host, _, _ := net.SplitHostPort(o.Endpoints[0].Addr)
				cfg.ServerName = host
				d := tls.Dialer{Config: cfg}
				c, err := d.DialContext(ctx, "tcp", o.Endpoints[0].Addr)
				if err != nil {
					return nil, err
				}
				// TLS 1.3 reports a refused client certificate on the first read.
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, _ = c.Read(make([]byte, 1))
				_ = c.Close()
				return inner(ctx, o)
			}
			args := append([]string{"etclient", "login", "--server", addr}, tt.args...)
			code := Run(context.Background(), args, env)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d: %s", code, tt.wantCode, h.stderr.String())
			}
			if tt.wantError != "" && !strings.Contains(h.stderr.String(), tt.wantError) {
				t.Fatalf("stderr %q, want %q", h.stderr.String(), tt.wantError)
			}
			if tt.wantPeer != "" {
				select {
				case got := <-peers:
					if got != tt.wantPeer {
						t.Fatalf("server saw client %q, want %q", got, tt.wantPeer)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("server saw no handshake")
				}
			}
		})
	}
	// Drain what the failing cases left.
	for len(peers) > 0 {
		<-peers
	}
}
