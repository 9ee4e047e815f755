package nap

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// testPKI is a CA with a server and a client certificate, generated per test.
type testPKI struct {
	pool   *x509.CertPool
	server tls.Certificate
	client tls.Certificate
}

func newTestPKI(t testing.TB, cn string) *testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, usage x509.ExtKeyUsage) tls.Certificate {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: "nap test leaf"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	p := &testPKI{pool: x509.NewCertPool(), server: leaf(2, x509.ExtKeyUsageServerAuth), client: leaf(3, x509.ExtKeyUsageClientAuth)}
	p.pool.AddCert(caCert)
	return p
}

func TestTLS(t *testing.T) {
	pki := newTestPKI(t, "nap test CA")
	other := newTestPKI(t, "other CA")
	serverTLS := &tls.Config{Certificates: []tls.Certificate{pki.server}, MinVersion: tls.VersionTLS12}
	mutualTLS := &tls.Config{Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	cases := []struct {
		name    string
		server  *tls.Config
		client  *tls.Config
		wantErr string
	}{
		{"TLS", serverTLS, &tls.Config{RootCAs: pki.pool}, ""},
		{"mutual TLS", mutualTLS, &tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{pki.client}}, ""},
		{"server from an unknown CA", serverTLS, &tls.Config{RootCAs: other.pool}, "certificate signed by unknown authority"},
		// With TLS 1.3 the client learns of the rejection from an alert or
		// from the closed connection, whichever comes first.
		{"mutual TLS without client certificate", mutualTLS, &tls.Config{RootCAs: pki.pool}, "nap: "},
		{"client certificate from an unknown CA", mutualTLS, &tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{other.client}}, "nap: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln := listenT(t, &Config{TLSConfig: tc.server, HandshakeTimeout: 5 * time.Second})
			accepted := make(chan *Session, 1)
			go func() {
				s, err := ln.Accept()
				if err != nil {
					close(accepted)
					return
				}
				accepted <- s
			}()
			c, err := Dial(testCtx(t), "tcp", ln.Addr().String(), &Config{TLSConfig: tc.client})
			s := <-accepted
			if s != nil {
				defer s.Close()
			}
			if tc.wantErr != "" {
				if err == nil {
					c.Close()
					t.Fatal("Dial succeeded")
				}
				if !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "nap: ") {
					t.Fatalf("Dial = %v, want %q", err, tc.wantErr)
				}
				if s != nil {
					waitDone(t, s)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			done := serveEcho(s)
			defer func() { s.Close(); <-done }()
			if m, err := call(testCtx(t), c, []byte("secret")); err != nil || string(m) != "secret" {
				t.Fatalf("%q %v", m, err)
			}
			state := c.conn.(*tls.Conn).ConnectionState()
			if !state.HandshakeComplete || len(state.VerifiedChains) == 0 {
				t.Fatal("server certificate not verified")
			}
			if tc.server.ClientAuth == tls.RequireAndVerifyClientCert {
				sst := s.conn.(*tls.Conn).ConnectionState()
				if len(sst.VerifiedChains) == 0 {
					t.Fatal("client certificate not verified")
				}
			}
		})
	}
}
