package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/cli"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/testkit"
)

// startTLSServer seeds a fresh embedded store and serves it with the certificates in certs
// (`etserver certs` output); with mutual, client certificates signed by certs/ca.pem are
// required.
func startTLSServer(t *testing.T, certs string, mutual bool) *server {
	t.Helper()
	data := t.TempDir()
	if err := etserverRun(bins.etserver, "seed", "--insecure-fast-hashes", "--users", "20", "--data-dir", data); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"ETSERVER_TLS_CERT=" + filepath.Join(certs, "server.pem"),
		"ETSERVER_TLS_KEY=" + filepath.Join(certs, "server-key.pem"),
	}
	if mutual {
		env = append(env, "ETSERVER_TLS_CLIENT_CA="+filepath.Join(certs, "ca.pem"))
	}
	s, err := startServer(bins.etserver, data, env...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certs, other := filepath.Join(dir, "certs"), filepath.Join(dir, "other")
	for _, d := range []string{certs, other} {
		if err := etserverRun(bins.etserver, "certs", "--dir", d); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"ca.pem", "server.pem", "server-key.pem", "client.pem", "client-key.pem"} {
		if _, err := os.Stat(filepath.Join(certs, f)); err != nil {
			t.Fatalf("etserver certs: %v", err)
		}
	}
	ca := filepath.Join(certs, "ca.pem")
	clientCert := []string{"--cert", filepath.Join(certs, "client.pem"), "--tls-key", filepath.Join(certs, "client-key.pem")}
	tlsSrv := startTLSServer(t, certs, false)
	mtlsSrv := startTLSServer(t, certs, true)
	down := testkit.ClosedAddr(t)

	tests := []struct {
		name       string
		server     string
		user       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"tls", tlsSrv.Addr, "11", []string{"--tls", "--ca", ca}, cli.ExitOK, ""},
		{"tls, server signed by another CA", tlsSrv.Addr, "12", []string{"--tls", "--ca", filepath.Join(other, "ca.pem")}, cli.ExitFailure, "etclient: login failed: UNAVAILABLE: "},
		{"plain TCP to a TLS server", tlsSrv.Addr, "13", []string{"--timeout", "3s"}, cli.ExitFailure, "etclient: login failed: "},
		{"mutual tls", mtlsSrv.Addr, "14", append([]string{"--tls", "--ca", ca}, clientCert...), cli.ExitOK, ""},
		{"mutual tls without a client certificate", mtlsSrv.Addr, "15", []string{"--tls", "--ca", ca}, cli.ExitFailure, "etclient: login failed: UNAVAILABLE: "},
		{"mutual tls with another CA's client certificate", mtlsSrv.Addr, "16",
			[]string{"--tls", "--ca", ca, "--cert", filepath.Join(other, "client.pem"), "--tls-key", filepath.Join(other, "client-key.pem")}, cli.ExitFailure, "etclient: login failed: UNAVAILABLE: "},
		{"mutual tls, balanced with one server down", down + "#5," + mtlsSrv.Addr, "17", append([]string{"--tls", "--ca", ca}, clientCert...), cli.ExitOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"login,write,read", "-u", tt.user, "-p", tt.user, "-k", "secret", "-v", "tls-" + tt.user, "--server", tt.server}, tt.args...)
			r := etclient(args...)
			if r.code != tt.wantCode || !strings.HasPrefix(r.stderr, tt.wantStderr) || strings.Count(r.stderr, "\n") > 1 {
				t.Fatalf("exit %d, want %d and stderr starting %q\n%v", r.code, tt.wantCode, tt.wantStderr, r)
			}
			if tt.wantCode == cli.ExitOK && !strings.Contains(r.stdout, `read   ok  user="`+tt.user+`" key="secret" value="tls-`+tt.user+`"`) {
				t.Fatalf("stdout:\n%s", r.stdout)
			}
		})
	}
}
