package nap

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/nap/internal/testkit"
)

func TestTLS(t *testing.T) {
	pki := testkit.NewPKI(t, "nap test CA")
	other := testkit.NewPKI(t, "other CA")
	serverTLS := &tls.Config{Certificates: []tls.Certificate{pki.Server}, MinVersion: tls.VersionTLS12}
	mutualTLS := &tls.Config{Certificates: []tls.Certificate{pki.Server}, ClientCAs: pki.Pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	cases := []struct {
		name    string
		server  *tls.Config
		client  *tls.Config
		wantErr string
	}{
		{"TLS", serverTLS, &tls.Config{RootCAs: pki.Pool}, ""},
		{"mutual TLS", mutualTLS, &tls.Config{RootCAs: pki.Pool, Certificates: []tls.Certificate{pki.Client}}, ""},
		{"server from an unknown CA", serverTLS, &tls.Config{RootCAs: other.Pool}, "certificate signed by unknown authority"},
		// With TLS 1.3 the client learns of the rejection from an alert or
		// from the closed connection, whichever comes first.
		{"mutual TLS without client certificate", mutualTLS, &tls.Config{RootCAs: pki.Pool}, "nap: "},
		{"client certificate from an unknown CA", mutualTLS, &tls.Config{RootCAs: pki.Pool, Certificates: []tls.Certificate{other.Client}}, "nap: "},
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
