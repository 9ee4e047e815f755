package dora_test

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/internal/testkit"
	"github.com/seed857a6cbd/pocket/dora/internal/testpb"
	"github.com/seed857a6cbd/pocket/dora/wirepb"
)

// legacyConn is the kit's hand-written legacy nap peer, failing the test on errors and
// decoding each answer as a Pkg.
type legacyConn struct {
	*testkit.LegacyConn
	t *testing.T
}

func dialLegacy(t *testing.T, addr string) *legacyConn {
	t.Helper()
	return &legacyConn{LegacyConn: testkit.DialLegacy(t, addr, testTimeout), t: t}
}

func (l *legacyConn) send(streamID uint32, pkg []byte) {
	l.t.Helper()
	if err := l.Send(streamID, pkg); err != nil {
		l.t.Fatal(err)
	}
}

// recv returns the stream ID and decoded Pkg of the next DATA frame.
func (l *legacyConn) recv() (uint32, *wirepb.Pkg) {
	l.t.Helper()
	id, body, err := l.Recv()
	if err != nil {
		l.t.Fatal(err)
	}
	p := new(wirepb.Pkg)
	if err := proto.Unmarshal(body, p); err != nil {
		l.t.Fatal(err)
	}
	return id, p
}

// legacyPkg marshals a Pkg the way the legacy client did: bare method name, its own meta
// keys, no version or serialize_type.
func legacyPkg(t *testing.T, method string, meta map[string]string, req proto.Message) []byte {
	t.Helper()
	payload, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(&wirepb.Pkg{Head: &wirepb.Head{Seq: 42, Method: method, Meta: meta}, Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLegacyClient(t *testing.T) {
	ts := startServerOn(t, "127.0.0.1:0", registerAll)
	lc := dialLegacy(t, ts.addr)
	tests := []struct {
		name       string
		method     string
		req        proto.Message
		wantStatus string // "" = OK (absent)
		wantMsg    string
		wantToken  string
	}{
		{"ok", "Login", &testpb.LoginRequest{Username: "ann", Password: "secret"}, "", "", "tok-ann-t0"},
		{"unauthenticated", "Login", &testpb.LoginRequest{Username: "ann", Password: "nope"}, "6", "wrong password", ""},
		{"not found", "Login", &testpb.LoginRequest{Username: "ghost", Password: "secret"}, "3", "no such user", ""},
		{"bad request", "Login", &testpb.LoginRequest{Password: "secret"}, "2", "username required", ""},
		{"unknown method", "Logout", &testpb.Empty{}, "1", "", ""},
		{"ambiguous method", "Say", &testpb.Empty{}, "1", "", ""},
		{"full name works too", "/dora.test.Auth/Login", &testpb.LoginRequest{Username: "bob", Password: "secret"}, "", "", "tok-bob-t0"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := uint32(2*i + 1)
			lc.send(id, legacyPkg(t, tt.method, map[string]string{"username": "ann", "token": "t0"}, tt.req))
			gotID, p := lc.recv()
			if gotID != id {
				t.Fatalf("answer on stream %d, want %d", gotID, id)
			}
			meta := p.GetHead().GetMeta()
			if meta["dora-status"] != tt.wantStatus {
				t.Fatalf("dora-status = %q, want %q (meta %v)", meta["dora-status"], tt.wantStatus, meta)
			}
			if tt.wantMsg != "" && meta["dora-message"] != tt.wantMsg {
				t.Fatalf("dora-message = %q, want %q", meta["dora-message"], tt.wantMsg)
			}
			if p.GetHead().GetSeq() != 42 {
				t.Fatalf("seq = %d, want 42", p.GetHead().GetSeq())
			}
			if tt.wantToken != "" {
				resp := new(testpb.LoginResponse)
				if err := proto.Unmarshal(p.GetPayload(), resp); err != nil {
					t.Fatal(err)
				}
				if resp.Token != tt.wantToken || resp.UserId != 7 {
					t.Fatalf("resp = %v", resp)
				}
			}
		})
	}
}

func TestLegacyMalformedPkg(t *testing.T) {
	ts := startServerOn(t, "127.0.0.1:0", registerAll)
	lc := dialLegacy(t, ts.addr)
	lc.send(1, []byte{0x0a, 0xff, 0xff, 0x01}) // Head length past the end
	_, p := lc.recv()
	if got := p.GetHead().GetMeta()["dora-status"]; got != "2" { // BadRequest
		t.Fatalf("dora-status = %q, want 2", got)
	}
	// The connection still serves.
	lc.send(3, legacyPkg(t, "Login", nil, &testpb.LoginRequest{Username: "ann", Password: "secret"}))
	if _, p := lc.recv(); p.GetHead().GetMeta()["dora-status"] != "" {
		t.Fatalf("call after a malformed one failed: %v", p.GetHead().GetMeta())
	}
}

func TestLegacyResponseOverFrameLimit(t *testing.T) {
	impl := &echoImpl{onSay: func(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
		return &echo.SayResponse{Blob: make([]byte, 70<<10)}, nil // one legacy frame holds 64 KiB
	}}
	ts := startServer(t, impl)
	lc := dialLegacy(t, ts.addr)
	lc.send(1, legacyPkg(t, "Say", nil, &echo.SayRequest{Text: "big"}))
	_, p := lc.recv()
	if got := p.GetHead().GetMeta()["dora-status"]; got != "8" { // ResourceExhausted -> Unavailable
		t.Fatalf("dora-status = %q, want 8 (%s)", got, p.GetHead().GetMeta()["dora-message"])
	}
	if len(p.GetPayload()) != 0 {
		t.Fatal("payload sent with an error status")
	}
}
