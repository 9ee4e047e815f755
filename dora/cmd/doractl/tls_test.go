package main

import (
	"net"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/health"

	"github.com/seed857a6cbd/pocket/dora/cmd/doractl/internal/testkit"
)

func TestDoractlMutualTLS(t *testing.T) {
	kit := testkit.NewPKI(t, "doractl test CA")
	p := kit.WriteFiles(t, "")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := dora.NewServer(dora.WithTLS(kit.ServerConfig(true)))
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
		{"mTLS", []string{"--cacert", p.CA, "--cert", p.ClientCert, "--key", p.ClientKey}, 0},
		{"skip verify with client cert", []string{"--insecure-skip-verify", "--cert", p.ClientCert, "--key", p.ClientKey}, 0},
		{"no client certificate", []string{"--cacert", p.CA}, unavailable},
		{"server not trusted", []string{"--tls", "--cert", p.ClientCert, "--key", p.ClientKey}, unavailable},
		{"wrong server name", []string{"--cacert", p.CA, "--cert", p.ClientCert, "--key", p.ClientKey, "--server-name", "other"}, unavailable},
		{"plain TCP to a TLS server", nil, unavailable},
		{"cert without key", []string{"--cert", p.ClientCert}, exitUsage},
		{"missing CA file", []string{"--cacert", p.CA + ".nope"}, exitLocal},
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
