package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/examples/internal/testkit"
)

// files writes a test CA and a leaf for 127.0.0.1 signed by it, usable by a server and a
// client.
func files(t *testing.T) (ca, cert, key string) {
	t.Helper()
	kit := testkit.NewPKI(t, "ca")
	dir := t.TempDir()
	ca = kit.WriteFiles(t, dir).CA
	cert, key = testkit.WriteLeaf(t, dir, "leaf", kit.Issue(t, "leaf", x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth))
	return ca, cert, key
}

func TestServer(t *testing.T) {
	ca, cert, key := files(t)
	tests := []struct {
		name              string
		cert, key, client string
		nilConfig, mtls   bool
		err               bool
	}{
		{name: "plain", nilConfig: true},
		{name: "tls", cert: cert, key: key},
		{name: "mtls", cert: cert, key: key, client: ca, mtls: true},
		{name: "cert without key", cert: cert, err: true},
		{name: "client CA alone", client: ca, err: true},
		{name: "key is not a cert", cert: key, key: key, err: true},
		{name: "CA not PEM", cert: cert, key: key, client: filepath.Join(t.TempDir(), "missing"), err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Server(tc.cert, tc.key, tc.client)
			if tc.err {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (cfg == nil) != tc.nilConfig {
				t.Fatalf("config %v", cfg)
			}
			if tc.mtls && cfg.ClientAuth != tls.RequireAndVerifyClientCert {
				t.Fatalf("ClientAuth %v", cfg.ClientAuth)
			}
		})
	}
}

func TestClient(t *testing.T) {
	ca, cert, key := files(t)
	if cfg, err := Client(false, "", "", "", ""); cfg != nil || err != nil {
		t.Fatalf("plain: %v, %v", cfg, err)
	}
	if cfg, err := Client(true, "", "", "", ""); err != nil || cfg == nil || cfg.RootCAs != nil || cfg.InsecureSkipVerify {
		t.Fatalf("--tls: %v, %v", cfg, err)
	}
	cfg, err := Client(false, ca, cert, key, "example.test")
	if err != nil || cfg.RootCAs == nil || len(cfg.Certificates) != 1 || cfg.ServerName != "example.test" {
		t.Fatalf("full: %v, %v", cfg, err)
	}
	if _, err := Client(false, ca, cert, "", ""); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("cert without key: %v", err)
	}
	if _, err := Client(false, key, "", "", ""); err == nil {
		t.Fatal("a key file accepted as CA")
	}
}

// TestHandshake checks that the two configurations built from the same
// files complete a mutual TLS handshake over loopback.
func TestHandshake(t *testing.T) {
	ca, cert, key := files(t)
	srvCfg, err := Server(cert, key, ca)
	if err != nil {
		t.Fatal(err)
	}
	cliCfg, err := Client(false, ca, cert, key, "")
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			err = c.(*tls.Conn).Handshake()
			c.Close()
		}
		accepted <- err
	}()
	cliCfg.ServerName = "127.0.0.1"
	c, err := tls.Dial("tcp", l.Addr().String(), cliCfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
}

func TestEphemeral(t *testing.T) {
	ip := net.IPv4(127, 0, 0, 1)
	srv, cli, err := Ephemeral(ip)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := Ephemeral(ip)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan error, 8)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			accepted <- c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	dial := func(cfg *tls.Config) error {
		d := &tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: 10 * time.Second}}
		c, err := d.Dial("tcp", l.Addr().String())
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_, err = c.Read(make([]byte, 1)) // TLS 1.3: the server's verdict on our certificate arrives after the handshake
			c.Close()
			if errors.Is(err, io.EOF) {
				err = nil
			}
		}
		<-accepted
		return err
	}
	if err := dial(cli); err != nil {
		t.Fatalf("the pair's client: %v", err)
	}
	noCert := cli.Clone()
	noCert.Certificates = nil
	otherCert := cli.Clone()
	otherCert.Certificates = other.Certificates
	for name, cfg := range map[string]*tls.Config{"no certificate": noCert, "another ephemeral certificate": otherCert} {
		if err := dial(cfg); err == nil {
			t.Errorf("%s: handshake accepted", name)
		}
	}
}
