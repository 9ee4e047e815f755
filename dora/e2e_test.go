package dora_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"github.com/seed857a6cbd/pocket/dora"
	"testing"

	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/status"
)

// transports runs a test over plain TCP and over mTLS.
var transports = []struct {
	name   string
	server func(t testing.TB) []dora.ServerOption
	client func(t testing.TB) []dora.ClientOption
}{
	{"tcp", func(testing.TB) []dora.ServerOption { return nil }, func(testing.TB) []dora.ClientOption { return nil }},
	{"mtls", func(t testing.TB) []dora.ServerOption {
		c := makeCerts(t)
		return []dora.ServerOption{dora.WithTLS(&tls.Config{Certificates: []tls.Certificate{c.Server},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: c.Pool, MinVersion: tls.VersionTLS12})}
	}, func(t testing.TB) []dora.ClientOption {
		c := makeCerts(t)
		return []dora.ClientOption{dora.WithTLS(&tls.Config{Certificates: []tls.Certificate{c.Client},
			RootCAs: c.Pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})}
	}},
}

func TestUnary(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			ts := startServer(t, nil, tr.server(t)...)
			c := newTestClient(t, ts.addr, tr.client(t)...)
			ec := echo.NewEchoClient(c)
			for _, size := range []int{0, 3, 64 << 10, 1 << 20} {
				blob := make([]byte, size)
				for i := range blob {
					blob[i] = byte(i * 7)
				}
				resp, err := ec.Say(testCtx(t), &echo.SayRequest{Text: "hello", Blob: blob})
				if err != nil {
					t.Fatalf("size %d: %v", size, err)
				}
				if resp.Text != "hello" || !bytes.Equal(resp.Blob, blob) {
					t.Fatalf("size %d: wrong echo (%d bytes)", size, len(resp.Blob))
				}
			}
		})
	}
}

func TestMTLSRejectsClientWithoutCert(t *testing.T) {
	srvOpts := transports[1].server(t)
	ts := startServer(t, nil, srvOpts...)
	cs := makeCerts(t)
	c := newTestClient(t, ts.addr, dora.WithTLS(&tls.Config{RootCAs: cs.Pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}))
	_, err := echo.NewEchoClient(c).Say(testCtx(t), &echo.SayRequest{Text: "x"})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v, want Unavailable", err)
	}
}

func TestUnaryErrorStatus(t *testing.T) {
	impl := &echoImpl{onSay: func(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
		switch in.Text {
		case "plain":
			return nil, errors.New("boom")
		case "deadline":
			return nil, context.DeadlineExceeded
		}
		return nil, status.Errorf(codes.NotFound, "no %s", in.Text)
	}}
	ts := startServer(t, impl)
	ec := echo.NewEchoClient(newTestClient(t, ts.addr))
	tests := []struct {
		text     string
		wantCode codes.Code
		wantMsg  string
	}{
		{"user", codes.NotFound, "no user"},
		{"plain", codes.Unknown, "boom"},
		{"deadline", codes.DeadlineExceeded, "context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			_, err := ec.Say(testCtx(t), &echo.SayRequest{Text: tt.text})
			s, ok := status.FromError(err)
			if !ok || s.Code() != tt.wantCode || s.Message() != tt.wantMsg {
				t.Fatalf("err = %v, want %v %q", err, tt.wantCode, tt.wantMsg)
			}
		})
	}
}
