package iip

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/iip/internal/testkit"
	"github.com/seed857a6cbd/pocket/lbclient"
)

// TestVerifyConfig: every Config field out of its documented range is an
// error wrapping ErrInvalidConfig that names the field; values in range,
// zero (the default) and the documented "off" values are not.
func TestVerifyConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		field string // "" when valid
	}{
		{"zero value", Config{}, ""},
		{"frames and window off", Config{FrameSize: -1, Window: -1}, ""},
		{"smallest frames, smallest window", Config{FrameSize: MinFrameSize, Window: 2 * MinFrameSize}, ""},
		{"largest frames, default window", Config{FrameSize: MaxFrameData}, ""},
		{"no frame size, any window", Config{FrameSize: -1, Window: 1}, ""},
		{"socket buffers: system's", Config{SocketReadBuffer: -1, SocketWriteBuffer: -1}, ""},
		{"every field set", Config{MaxMessageSize: 1 << 20, ReadBufferSize: 4 << 10, FrameSize: 8 << 10, Window: 16 << 10, SocketReadBuffer: 64 << 10, SocketWriteBuffer: 64 << 10, DisableCaps: true}, ""},
		{"negative message size", Config{MaxMessageSize: -1}, "MaxMessageSize"},
		{"negative read buffer", Config{ReadBufferSize: -1}, "ReadBufferSize"},
		{"frames below the minimum", Config{FrameSize: MinFrameSize - 1}, "FrameSize"},
		{"frames above 16 MiB", Config{FrameSize: MaxFrameData + 1}, "FrameSize"},
		{"window below two default frames", Config{Window: DefaultFrameSize}, "Window"},
		{"window below two frames", Config{FrameSize: 64 << 10, Window: 100 << 10}, "Window"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyConfig(&tc.cfg)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("VerifyConfig: %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "Config."+tc.field+" ") {
				t.Fatalf("VerifyConfig: %v, want ErrInvalidConfig naming Config.%s", err, tc.field)
			}
		})
	}
	if err := VerifyConfig(nil); err != nil {
		t.Fatalf("VerifyConfig(nil): %v", err)
	}
}

// TestOptionsVerified: every constructor refuses an invalid Config or an
// option out of range with an error wrapping ErrInvalidConfig, before it
// dials or serves; Dial and NewClient refuse NewLoadBalanceClient's options
// instead of ignoring them.
func TestOptionsVerified(t *testing.T) {
	addr := testkit.ClosedAddr(t) // nothing is dialed: the options fail first
	badCfg := WithConfig(Config{FrameSize: 100})
	for _, tc := range []struct {
		name     string
		opts     []ClientOption
		balanced bool // valid for NewLoadBalanceClient
		contains string
	}{
		{"bad frame size", []ClientOption{badCfg}, false, "Config.FrameSize"},
		{"negative dial timeout", []ClientOption{WithDialTimeout(-time.Second)}, false, "WithDialTimeout"},
		{"negative pool", []ClientOption{WithPool(-1, 0)}, false, "WithPool"},
		{"picker on a single server", []ClientOption{WithPicker(lbclient.PickRoundRobin)}, true, "WithPicker is an option of NewLoadBalanceClient"},
		{"balancer on a single server", []ClientOption{WithBalancer(lbclient.WithFailureThreshold(3))}, true, "WithBalancer is an option of NewLoadBalanceClient"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := func(fn string, err error) {
				t.Helper()
				if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.contains) {
					t.Fatalf("%s: %v, want ErrInvalidConfig naming %q", fn, err, tc.contains)
				}
			}
			_, err := Dial(testCtx(t), addr, tc.opts...)
			check("Dial", err)
			_, err = NewClient(testCtx(t), addr, tc.opts...)
			check("NewClient", err)
			lb, err := NewLoadBalanceClient(addr, tc.opts...)
			if tc.balanced {
				if err != nil {
					t.Fatalf("NewLoadBalanceClient: %v", err)
				}
				_ = lb.Close()
				return
			}
			check("NewLoadBalanceClient", err)
		})
	}
	for _, tc := range []struct {
		name     string
		opts     []ServerOption
		contains string
	}{
		{"bad window", []ServerOption{WithConfig(Config{Window: 1})}, "Config.Window"},
		{"negative connections", []ServerOption{WithLimits(Limits{MaxConns: -1})}, "Limits.MaxConns"},
		{"negative handshake timeout", []ServerOption{WithTimeouts(Timeouts{Handshake: -time.Second})}, "Timeouts.Handshake"},
		{"negative handlers", []ServerOption{WithLimits(Limits{MaxHandlers: -1})}, "Limits.MaxHandlers"},
		{"negative write budget", []ServerOption{WithLimits(Limits{MaxConnWriteBytes: -1})}, "Limits.MaxConnWriteBytes"},
	} {
		t.Run("server/"+tc.name, func(t *testing.T) {
			s, err := NewServer(tc.opts...)
			if s != nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("NewServer: %v, %v; want no server and ErrInvalidConfig naming %q", s, err, tc.contains)
			}
		})
	}
}

// TestServerBudgetsVerified: a per-connection request budget that cannot
// hold one message of MaxMessageSize and a frame, or a server budget below
// the per-connection one, is an error that says what to set; the server
// never raises a budget it was given.
func TestServerBudgetsVerified(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     []ServerOption
		want     string // the advice in the error; "" when valid
		perConn  int
		total    int
		maxBytes int
	}{
		{name: "defaults", perConn: DefaultMaxConnBufferedBytes, total: DefaultMaxBufferedBytes, maxBytes: DefaultMaxMessageSize},
		{name: "the smallest budget for 8 MiB messages",
			opts:    []ServerOption{WithConfig(Config{MaxMessageSize: 8 << 20}), WithLimits(Limits{MaxConnBufferedBytes: 24 << 20})},
			perConn: 24 << 20, total: DefaultMaxBufferedBytes, maxBytes: 8 << 20},
		{name: "per-connection budget below a message and a frame",
			opts: []ServerOption{WithConfig(Config{MaxMessageSize: 8 << 20}), WithLimits(Limits{MaxConnBufferedBytes: 1 << 20})},
			want: "Limits{MaxConnBufferedBytes: 25165824, MaxBufferedBytes: 100663296}"},
		{name: "message size raised past the default budget",
			opts: []ServerOption{WithConfig(Config{MaxMessageSize: 100 << 20})},
			want: "Limits{MaxConnBufferedBytes: 121634816, MaxBufferedBytes: 121634816}"},
		{name: "server budget below the connection's",
			opts: []ServerOption{WithLimits(Limits{MaxConnBufferedBytes: 200 << 20})},
			want: "Limits{MaxConnBufferedBytes: 209715200, MaxBufferedBytes: 209715200}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewServer(tc.opts...)
			if tc.want != "" {
				if s != nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("NewServer: %v, %v; want no server and ErrInvalidConfig advising %s", s, err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.opts.MaxConnBufferedBytes != tc.perConn || s.opts.MaxBufferedBytes != tc.total || s.opts.MaxMessageSize != tc.maxBytes {
				t.Fatalf("budgets %d/%d for messages of %d, want %d/%d for %d", s.opts.MaxConnBufferedBytes, s.opts.MaxBufferedBytes,
					s.opts.MaxMessageSize, tc.perConn, tc.total, tc.maxBytes)
			}
		})
	}
}

// TestSharedTLSOption: one WithTLS value, holding a peer's certificate and
// trust, configures a server and the clients that call it (Dial, NewClient
// and NewLoadBalanceClient) for mutual TLS; a plain client is refused.
func TestSharedTLSOption(t *testing.T) {
	pki := testkit.NewPKI(t, "iip shared option CA")
	peer := pki.Issue(t, "iip peer", x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	tlsOpt := WithTLS(&tls.Config{
		Certificates: []tls.Certificate{peer},
		RootCAs:      pki.Pool,
		ClientCAs:    pki.Pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	})
	quiet := WithLogger(quietLogger())
	_, addr := echoServer(t, tlsOpt, quiet)

	conn, err := Dial(testCtx(t), addr, tlsOpt, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pool, err := NewClient(testCtx(t), addr, tlsOpt, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	lb, err := NewLoadBalanceClient(addr, tlsOpt, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	for name, do := range map[string]func() ([]byte, error){
		"Dial":                 func() ([]byte, error) { return conn.Do(testCtx(t), "/echo", []byte("secret")) },
		"NewClient":            func() ([]byte, error) { return pool.Do(testCtx(t), "/echo", []byte("secret")) },
		"NewLoadBalanceClient": func() ([]byte, error) { return lb.Do(testCtx(t), "/echo", []byte("secret")) },
	} {
		if resp, err := do(); err != nil || string(resp) != "secret" {
			t.Fatalf("%s: got %q, %v", name, resp, err)
		}
	}
	if c, err := Dial(testCtx(t), addr, quiet, WithDialTimeout(2*time.Second)); err == nil {
		c.Close()
		t.Fatal("a plain dial to the TLS server succeeded")
	}
}
