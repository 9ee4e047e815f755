package kvpb_test

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

// TestFixedAPI pins the names and numbers older clients depend on.
func TestFixedAPI(t *testing.T) {
	fd := kvpb.File_kv_proto
	if fd.Package() != "kv" {
		t.Fatalf("package %q", fd.Package())
	}
	svc := fd.Services().ByName("Store")
	if svc == nil {
		t.Fatal("service kv.Store missing")
	}
	methods := []struct{ name, in, out string }{
		{"Login", "LoginReq", "LoginRsp"},
		{"WriteSecureMessage", "WriteSecureMessageReq", "WriteSecureMessageRsp"},
		{"ReadSecureMessage", "ReadSecureMessageReq", "ReadSecureMessageRsp"},
		{"Logout", "LogoutReq", "LogoutRsp"},
		{"DeleteSecureMessage", "DeleteSecureMessageReq", "DeleteSecureMessageRsp"},
	}
	for _, m := range methods {
		md := svc.Methods().ByName(protoreflect.Name(m.name))
		if md == nil || string(md.Input().Name()) != m.in || string(md.Output().Name()) != m.out {
			t.Errorf("method %s(%s) %s missing or changed", m.name, m.in, m.out)
		}
	}
	fields := []struct {
		msg, field string
		num        protowire.Number
	}{
		{"LoginReq", "username", 1}, {"LoginReq", "password", 2},
		{"LoginRsp", "status", 1}, {"LoginRsp", "token", 2},
		{"WriteSecureMessageReq", "key", 1}, {"WriteSecureMessageReq", "value", 2},
		{"WriteSecureMessageRsp", "key", 1}, {"WriteSecureMessageRsp", "value", 2},
		{"ReadSecureMessageReq", "key", 1},
		{"ReadSecureMessageRsp", "status", 1}, {"ReadSecureMessageRsp", "value", 2},
		{"Status", "code", 1}, {"Status", "message", 2},
	}
	for _, f := range fields {
		md := fd.Messages().ByName(protoreflect.Name(f.msg))
		if md == nil {
			t.Errorf("message %s missing", f.msg)
			continue
		}
		fdesc := md.Fields().ByName(protoreflect.Name(f.field))
		if fdesc == nil || fdesc.Number() != f.num {
			t.Errorf("%s.%s is not field %d", f.msg, f.field, f.num)
		}
	}
	codes := map[string]protoreflect.EnumNumber{"OK": 0, "INCORRECT_USERNAME_OR_PASSWORD": 1000, "KEY_NOT_EXIST": 1001}
	ed := fd.Enums().ByName("CODE")
	for name, num := range codes {
		v := ed.Values().ByName(protoreflect.Name(name))
		if v == nil || v.Number() != num {
			t.Errorf("CODE %s is not %d", name, num)
		}
	}
}

// TestStringWireCompatible shows that a value an older client encodes as a proto3 string
// decodes into the bytes fields, and the reverse.
func TestStringWireCompatible(t *testing.T) {
	var legacy []byte
	legacy = protowire.AppendTag(legacy, 1, protowire.BytesType)
	legacy = protowire.AppendString(legacy, "key-1")
	legacy = protowire.AppendTag(legacy, 2, protowire.BytesType)
	legacy = protowire.AppendString(legacy, "välue")
	var req kvpb.WriteSecureMessageReq
	if err := proto.Unmarshal(legacy, &req); err != nil {
		t.Fatal(err)
	}
	if string(req.Key) != "key-1" || string(req.Value) != "välue" {
		t.Fatalf("decoded %q %q", req.Key, req.Value)
	}
	out, err := proto.Marshal(&req)
	if err != nil || string(out) != string(legacy) {
		t.Fatalf("re-encoded %x %v, want %x", out, err, legacy)
	}
}

func TestRejectsTruncatedInput(t *testing.T) {
	var req kvpb.LoginReq
	if err := proto.Unmarshal([]byte{0x0a, 0x05, 'a'}, &req); err == nil {
		t.Fatal("truncated LoginReq decoded")
	}
}
