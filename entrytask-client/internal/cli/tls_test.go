package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/testkit"
)

// testPKI is the test CA with a server certificate for 127.0.0.1 and a client certificate
// (common name etclient-user), written as PEM files, plus the certificate file of another CA.
type testPKI struct {
	*testkit.PKI
	dir                                    string
	caFile, certFile, keyFile, otherCAFile string
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	kit := testkit.NewPKI(t, "etclient test CA")
	kit.Client = kit.Issue(t, "etclient-user", x509.ExtKeyUsageClientAuth)
	p := &testPKI{PKI: kit, dir: t.TempDir()}
	f := kit.WriteFiles(t, p.dir)
	p.caFile, p.certFile, p.keyFile = f.CA, f.ClientCert, f.ClientKey
	p.otherCAFile = testkit.NewPKI(t, "another CA").WriteFiles(t, "").CA
	return p
}

// tlsServer is a mutual-TLS listener on loopback that completes one handshake per
// connection and reports the client certificate's common name.
func tlsServer(t *testing.T, p *testPKI) (addr string, peers <-chan string) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{p.Server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.Pool,
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
