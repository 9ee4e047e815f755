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

// TestHostileTLSServerSpeaksNoPlaintext: issue #14 row 14. A server given WithTLS gives a
// plaintext peer no nap session (the connection is closed after at most a TLS alert); a
// TLS client gets answers.
func TestHostileTLSServerSpeaksNoPlaintext(t *testing.T) {
	base := liveHeap()
	cs := makeCerts(t)
	srvTLS := &tls.Config{Certificates: []tls.Certificate{cs.Server}, MinVersion: tls.VersionTLS12}
	ts := startServer(t, nil, dora.WithTLS(srvTLS), dora.WithNapConfig(nap.Config{HandshakeTimeout: 2 * time.Second}))

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

	cliTLS := &tls.Config{RootCAs: cs.Pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	goodCall(t, newTestClient(t, ts.addr, dora.WithTLS(cliTLS)), "tls option")
	checkHeap(t, "plaintext peer against TLS", base, 4<<20)
}

// TestHostileTLSInNapConfigIsRefused: dora's TLS is set only with WithTLS. A nap.Config
// carrying a TLSConfig given to WithNapConfig makes Serve and NewClient fail with
// ErrNapConfigTLS, in any order, even next to WithTLS of the same *tls.Config or before a
// WithNapConfig without TLS (which would otherwise turn it into plain TCP); the
// server serves nothing, plaintext least of all, and NewServer logs why.
func TestHostileTLSInNapConfigIsRefused(t *testing.T) {
	cs := makeCerts(t)
	a := &tls.Config{Certificates: []tls.Certificate{cs.Server}, RootCAs: cs.Pool, MinVersion: tls.VersionTLS12}
	napTLS := dora.WithNapConfig(nap.Config{TLSConfig: a, HandshakeTimeout: time.Second})
	cases := []struct {
		name string
		opts []dora.Option
	}{
		{"nap config alone", []dora.Option{napTLS}},
		{"WithTLS then nap config", []dora.Option{dora.WithTLS(a), napTLS}},
		{"nap config then WithTLS", []dora.Option{napTLS, dora.WithTLS(a)}},
		{"nap config then one without TLS", []dora.Option{napTLS, dora.WithNapConfig(nap.Config{})}},
	}
	for _, tc := range cases {
		t.Run("server/"+tc.name, func(t *testing.T) {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var logs logBuf
			opts := []dora.ServerOption{dora.WithLogger(slogTo(&logs))}
			for _, o := range tc.opts {
				opts = append(opts, o)
			}
			srv := dora.NewServer(opts...)
			defer srv.Stop()
			echo.RegisterEchoServer(srv, &echoImpl{})
			if err := srv.Serve(lis); !errors.Is(err, dora.ErrNapConfigTLS) {
				t.Fatalf("Serve = %v, want ErrNapConfigTLS", err)
			}
			if !strings.Contains(logs.String(), "WithTLS") {
				t.Fatalf("NewServer did not log the refused option: %q", logs.String())
			}
			// Serve closed lis: nothing listens there any more, in plaintext or not.
			if c, err := net.DialTimeout("tcp", lis.Addr().String(), time.Second); err == nil {
				c.Close()
				t.Fatal("the listener is still open after Serve refused to serve")
			}
		})
		for _, target := range []string{"127.0.0.1:1", "lb:///127.0.0.1:1"} {
			t.Run("client/"+tc.name+"/"+target, func(t *testing.T) {
				opts := []dora.ClientOption{dora.WithLogger(quietLogger)}
				for _, o := range tc.opts {
					opts = append(opts, o)
				}
				c, err := dora.NewClient(target, opts...)
				if c != nil {
					c.Close()
				}
				if !errors.Is(err, dora.ErrNapConfigTLS) {
					t.Fatalf("NewClient err = %v, want ErrNapConfigTLS", err)
				}
			})
		}
	}
}

// TestHostileTLSNapConfigWithoutTLSKeepsWithTLS: a WithNapConfig without TLSConfig, given
// after WithTLS, replaces the nap settings but not TLS: the server still speaks only TLS.
func TestHostileTLSNapConfigWithoutTLSKeepsWithTLS(t *testing.T) {
	cs := makeCerts(t)
	ts := startServer(t, nil, dora.WithTLS(cs.ServerConfig(false)), dora.WithNapConfig(nap.Config{MaxFrameSize: 1 << 15}))
	conn, err := tls.Dial("tcp", ts.addr, &tls.Config{RootCAs: cs.Pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	conn.Close()
	goodCall(t, newTestClient(t, ts.addr, dora.WithTLS(cs.ClientConfig(false)), dora.WithNapConfig(nap.Config{MaxFrameSize: 1 << 15})), "nap config after WithTLS")
}
