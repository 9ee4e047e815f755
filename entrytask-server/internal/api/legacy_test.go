package api_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/seed857a6cbd/pocket/dora/wirepb"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/api"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testkit"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

// legacyConn is a client of the previous version: the kit's hand-written legacy nap peer
// (no handshake, the legacy framing) sending one Pkg per frame with bare method names and its
// own metadata keys.
type legacyConn struct {
	*testkit.LegacyConn
	t    *testing.T
	next uint32 // next stream ID (odd)
}

func dialLegacy(t *testing.T, addr string) *legacyConn {
	t.Helper()
	return &legacyConn{LegacyConn: testkit.DialLegacy(t, addr, testTimeout), t: t, next: 1}
}

// legacyPkg marshals Pkg{head: {seq, method, meta}, payload} field by field as the legacy
// client did (no version, no serialize_type).
func legacyPkg(seq uint64, method string, meta map[string]string, payload []byte) []byte {
	var head []byte
	head = protowire.AppendTag(head, 3, protowire.VarintType)
	head = protowire.AppendVarint(head, seq)
	head = protowire.AppendTag(head, 4, protowire.BytesType)
	head = protowire.AppendString(head, method)
	for k, v := range meta {
		var e []byte
		e = protowire.AppendTag(e, 1, protowire.BytesType)
		e = protowire.AppendString(e, k)
		e = protowire.AppendTag(e, 2, protowire.BytesType)
		e = protowire.AppendString(e, v)
		head = protowire.AppendTag(head, 5, protowire.BytesType)
		head = protowire.AppendBytes(head, e)
	}
	var pkg []byte
	pkg = protowire.AppendTag(pkg, 1, protowire.BytesType)
	pkg = protowire.AppendBytes(pkg, head)
	pkg = protowire.AppendTag(pkg, 2, protowire.BytesType)
	return protowire.AppendBytes(pkg, payload)
}

// call sends one request and returns the answer's meta and payload.
func (l *legacyConn) call(method string, meta map[string]string, req proto.Message) (map[string]string, []byte) {
	l.t.Helper()
	payload, err := proto.Marshal(req)
	if err != nil {
		l.t.Fatal(err)
	}
	id := l.next
	l.next += 2
	if err := l.Send(id, legacyPkg(uint64(id)*10, method, meta, payload)); err != nil {
		l.t.Fatal(err)
	}
	gotID, body, err := l.Recv()
	if err != nil {
		l.t.Fatal(err)
	}
	if gotID != id {
		l.t.Fatalf("answer on stream %d, want %d", gotID, id)
	}
	p := new(wirepb.Pkg)
	if err := proto.Unmarshal(body, p); err != nil {
		l.t.Fatal(err)
	}
	if p.GetHead().GetSeq() != uint64(id)*10 {
		l.t.Fatalf("seq %d, want %d", p.GetHead().GetSeq(), id*10)
	}
	return p.GetHead().GetMeta(), p.GetPayload()
}

// TestLegacyClient: an older client's calls, from hand-written legacy frames, get the
// answers the previous version gave, with errors in the legacy status numbering.
func TestLegacyClient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		clk := newClock()
		st := b.open(t, clk)
		createUser(t, st, "ann", "ann-pw")
		if _, err := app.Seed(context.Background(), st.accounts, app.SeedOptions{Users: 1, InsecureFastHashes: true}); err != nil {
			t.Fatal(err)
		}
		s := startServer(t, st, clk, func(o *app.Options) { o.ValueMaxBytes = 4096 })
		lc := dialLegacy(t, s.addr)

		meta, payload := lc.call("Login", nil, &kvpb.LoginReq{Username: "ann", Password: "ann-pw"})
		var lr kvpb.LoginRsp
		if err := proto.Unmarshal(payload, &lr); err != nil || meta["dora-status"] != "" || len(lr.Token) != 32 {
			t.Fatalf("Login: meta %v rsp %v %v", meta, &lr, err)
		}
		auth := map[string]string{"username": "ann", "token": lr.Token}
		key, value := bytes.Repeat([]byte("k"), 2000), bytes.Repeat([]byte("v"), 2000) // what older clients send

		tests := []struct {
			name       string
			method     string
			meta       map[string]string
			req        proto.Message
			wantStatus string // legacy dora-status; "" = OK
			msgHas     string
			check      func(t *testing.T, payload []byte)
		}{
			{"wrong password", "Login", nil, &kvpb.LoginReq{Username: "ann", Password: "x"}, "", "", func(t *testing.T, p []byte) {
				var r kvpb.LoginRsp
				proto.Unmarshal(p, &r)
				if r.GetStatus().GetCode() != kvpb.CODE_INCORRECT_USERNAME_OR_PASSWORD || r.Token != "" {
					t.Fatalf("rsp %v", &r)
				}
			}},
			{"write 2000-byte key and value", "WriteSecureMessage", auth, &kvpb.WriteSecureMessageReq{Key: key, Value: value}, "", "", func(t *testing.T, p []byte) {
				var r kvpb.WriteSecureMessageRsp
				proto.Unmarshal(p, &r)
				if !bytes.Equal(r.Key, key) || !bytes.Equal(r.Value, value) {
					t.Fatalf("write echoed %d/%d bytes", len(r.Key), len(r.Value))
				}
			}},
			{"read", "ReadSecureMessage", auth, &kvpb.ReadSecureMessageReq{Key: key}, "", "", func(t *testing.T, p []byte) {
				var r kvpb.ReadSecureMessageRsp
				proto.Unmarshal(p, &r)
				if r.GetStatus().GetCode() != kvpb.CODE_OK || !bytes.Equal(r.Value, value) {
					t.Fatalf("read %v, %d bytes", r.GetStatus(), len(r.Value))
				}
			}},
			{"read missing key", "ReadSecureMessage", auth, &kvpb.ReadSecureMessageReq{Key: []byte("none")}, "", "", func(t *testing.T, p []byte) {
				var r kvpb.ReadSecureMessageRsp
				proto.Unmarshal(p, &r)
				if r.GetStatus().GetCode() != kvpb.CODE_KEY_NOT_EXIST {
					t.Fatalf("read %v", &r)
				}
			}},
			{"full method name works too", "/kv.Store/ReadSecureMessage", auth, &kvpb.ReadSecureMessageReq{Key: key}, "", "", nil},
			{"username of another user", "ReadSecureMessage", map[string]string{"username": "bob", "token": lr.Token}, &kvpb.ReadSecureMessageReq{Key: key}, "6", "unauthenticated", nil},
			{"empty token", "ReadSecureMessage", map[string]string{"username": "ann", "token": ""}, &kvpb.ReadSecureMessageReq{Key: key}, "6", "", nil},
			{"no token", "ReadSecureMessage", map[string]string{"username": "ann"}, &kvpb.ReadSecureMessageReq{Key: key}, "6", "", nil},
			{"forged token", "ReadSecureMessage", map[string]string{"username": "ann", "token": strings.Repeat("ab", 16)}, &kvpb.ReadSecureMessageReq{Key: key}, "6", "", nil},
			{"oversized key is BadRequest", "WriteSecureMessage", auth, &kvpb.WriteSecureMessageReq{Key: bytes.Repeat([]byte("k"), 4097), Value: value}, "2", "4096", nil},
			{"oversized value is BadRequest", "WriteSecureMessage", auth, &kvpb.WriteSecureMessageReq{Key: key, Value: bytes.Repeat([]byte("v"), 4097)}, "2", "4096", nil},
			{"unknown method", "Frobnicate", auth, &kvpb.LogoutReq{}, "1", "", nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				meta, payload := lc.call(tc.method, tc.meta, tc.req)
				if meta["dora-status"] != tc.wantStatus {
					t.Fatalf("dora-status %q, want %q (meta %v)", meta["dora-status"], tc.wantStatus, meta)
				}
				if !strings.Contains(meta["dora-message"], tc.msgHas) {
					t.Fatalf("dora-message %q does not name %q", meta["dora-message"], tc.msgHas)
				}
				if tc.check != nil {
					tc.check(t, payload)
				}
			})
		}

		t.Run("over quota is Unavailable with a retry hint", func(t *testing.T) {
			meta, payload := lc.call("Login", nil, &kvpb.LoginReq{Username: "1", Password: "1"})
			var r kvpb.LoginRsp
			if err := proto.Unmarshal(payload, &r); err != nil || meta["dora-status"] != "" {
				t.Fatalf("Login 1: %v %v", meta, err)
			}
			auth1 := map[string]string{"username": "1", "token": r.Token}
			if meta, _ := lc.call("ReadSecureMessage", auth1, &kvpb.ReadSecureMessageReq{Key: []byte("k")}); meta["dora-status"] != "" {
				t.Fatalf("first read: %v", meta)
			}
			meta, _ = lc.call("ReadSecureMessage", auth1, &kvpb.ReadSecureMessageReq{Key: []byte("k")})
			if meta["dora-status"] != "8" || meta[api.MDRetryAfterMs] == "" {
				t.Fatalf("second read: meta %v, want dora-status 8 and %s", meta, api.MDRetryAfterMs)
			}
		})
	})
}
