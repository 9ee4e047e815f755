package dora_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/nap"
)

// napPlainHello is what a plaintext nap client sends first: a SETTINGS frame header
// (PROTOCOL.md of nap), enough for a plaintext server to answer with its own SETTINGS.
var napPlainHello = []byte{0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00}

// TestHostileTLSFromNapConfigIsHonoured: issue #14 row 14.
// dora.NewServer(dora.ServerNapConfig(nap.Config{TLSConfig: cfg})) served plaintext: the
// TLS configuration was dropped. It is now honoured like ServerTLS: a plaintext peer gets
// no nap session (the connection is closed after at most a TLS alert), a TLS client works.
func TestHostileTLSFromNapConfigIsHonoured(t *testing.T) {
	base := liveHeap()
	cs := makeCerts(t)
	srvTLS := &tls.Config{Certificates: []tls.Certificate{cs.Server}, MinVersion: tls.VersionTLS12}
	ts := startServer(t, nil, dora.ServerNapConfig(nap.Config{TLSConfig: srvTLS, HandshakeTimeout: 2 * time.Second}))

	// The attacker: a raw socket speaking plaintext nap.
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(napPlainHello); err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(testTimeout))
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("plaintext peer: read: %v (want the server to close the connection)", err)
	}
	// Anything but nothing or a TLS alert record (content type 21) means the server spoke
	// plaintext nap.
	if len(got) > 0 && got[0] != 21 {
		t.Fatalf("plaintext peer got %d bytes starting %x: the server answered in plaintext", len(got), got[:min(len(got), 16)])
	}

	// nap's own plaintext client fails too.
	if sess, err := nap.Dial(testCtx(t), "tcp", ts.addr, &nap.Config{HandshakeTimeout: 2 * time.Second}); err == nil {
		sess.Close()
		t.Fatal("a plaintext nap client got a session from a server configured for TLS")
	}

	// A TLS client, configured either way, gets answers.
	cliTLS := &tls.Config{RootCAs: cs.Pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	goodCall(t, newTestClient(t, ts.addr, dora.WithTLS(cliTLS)), "tls option")
	goodCall(t, newTestClient(t, ts.addr, dora.WithNapConfig(nap.Config{TLSConfig: cliTLS})), "nap config")
	checkHeap(t, "plaintext peer against TLS", base, 4<<20)
}

// TestHostileTLSConfigConflicts: issue #14 row 14. Two different TLS configurations (the option
// and the nap configuration's TLSConfig) are an error, on both sides, in either order; the
// same *tls.Config given twice is fine.
func TestHostileTLSConfigConflicts(t *testing.T) {
	cs := makeCerts(t)
	a := &tls.Config{Certificates: []tls.Certificate{cs.Server}, MinVersion: tls.VersionTLS12}
	b := &tls.Config{Certificates: []tls.Certificate{cs.Server}, MinVersion: tls.VersionTLS13}
	serverCases := []struct {
		name     string
		opts     []dora.ServerOption
		conflict bool
	}{
		{"option then nap config", []dora.ServerOption{dora.ServerTLS(a), dora.ServerNapConfig(nap.Config{TLSConfig: b})}, true},
		{"nap config then option", []dora.ServerOption{dora.ServerNapConfig(nap.Config{TLSConfig: b}), dora.ServerTLS(a)}, true},
		{"same config twice", []dora.ServerOption{dora.ServerNapConfig(nap.Config{TLSConfig: a}), dora.ServerTLS(a)}, false},
		{"nap config without TLS keeps the option", []dora.ServerOption{dora.ServerTLS(a), dora.ServerNapConfig(nap.Config{MaxFrameSize: 1 << 15})}, false},
	}
	for _, tc := range serverCases {
		t.Run("server/"+tc.name, func(t *testing.T) {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := dora.NewServer(append([]dora.ServerOption{dora.ServerLogger(quietLogger)}, tc.opts...)...)
			defer srv.Stop()
			if !tc.conflict {
				done := make(chan error, 1)
				go func() { done <- srv.Serve(lis) }()
				// The server speaks TLS: a TLS handshake succeeds.
				conn, err := tls.Dial("tcp", lis.Addr().String(), &tls.Config{RootCAs: cs.Pool, ServerName: "127.0.0.1"})
				if err != nil {
					t.Fatalf("TLS handshake: %v", err)
				}
				conn.Close()
				srv.Stop()
				if err := <-done; err != nil {
					t.Fatalf("Serve: %v", err)
				}
				return
			}
			err = srv.Serve(lis)
			if !errors.Is(err, dora.ErrTLSConflict) {
				t.Fatalf("Serve = %v, want ErrTLSConflict", err)
			}
			// Serve closed lis: nothing listens there any more.
			if c, err := net.DialTimeout("tcp", lis.Addr().String(), time.Second); err == nil {
				c.Close()
				t.Fatal("the listener is still open after Serve refused to serve")
			}
		})
	}
	clientCases := []struct {
		name     string
		opts     []dora.ClientOption
		conflict bool
	}{
		{"option then nap config", []dora.ClientOption{dora.WithTLS(a), dora.WithNapConfig(nap.Config{TLSConfig: b})}, true},
		{"nap config then option", []dora.ClientOption{dora.WithNapConfig(nap.Config{TLSConfig: b}), dora.WithTLS(a)}, true},
		{"same config twice", []dora.ClientOption{dora.WithNapConfig(nap.Config{TLSConfig: a}), dora.WithTLS(a)}, false},
	}
	for _, tc := range clientCases {
		for _, target := range []string{"127.0.0.1:1", "lb:///127.0.0.1:1"} {
			t.Run("client/"+tc.name+"/"+target, func(t *testing.T) {
				c, err := dora.NewClient(target, append(tc.opts, dora.WithLogger(quietLogger))...)
				if c != nil {
					defer c.Close()
				}
				if tc.conflict != errors.Is(err, dora.ErrTLSConflict) {
					t.Fatalf("NewClient err = %v, conflict %v", err, tc.conflict)
				}
			})
		}
	}
}

// TestHostileTLSRefusedConfigServesNothing: with conflicting TLS options nothing is ever
// served, in particular not plaintext (issue #14 row 14).
func TestHostileTLSRefusedConfigServesNothing(t *testing.T) {
	cs := makeCerts(t)
	a := &tls.Config{Certificates: []tls.Certificate{cs.Server}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs logBuf
	srv := dora.NewServer(dora.ServerLogger(slogTo(&logs)), dora.ServerTLS(a), dora.ServerNapConfig(nap.Config{TLSConfig: a.Clone()}))
	defer srv.Stop()
	echo.RegisterEchoServer(srv, &echoImpl{})
	if err := srv.Serve(lis); !errors.Is(err, dora.ErrTLSConflict) {
		t.Fatalf("Serve = %v, want ErrTLSConflict", err)
	}
	if sess, err := nap.Dial(testCtx(t), "tcp", lis.Addr().String(), &nap.Config{HandshakeTimeout: time.Second}); err == nil {
		sess.Close()
		t.Fatal("got a plaintext session")
	}
	if !strings.Contains(logs.String(), "two different TLS configurations") {
		t.Fatalf("NewServer did not log the conflict: %q", logs.String())
	}
}
