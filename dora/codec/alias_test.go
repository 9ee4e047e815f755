package codec_test

import (
	"bytes"
	"testing"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/seed857a6cbd/pocket/dora/codec"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
)

const aliasMin = 1024

// sayWire encodes fields of echo.SayRequest (text = 1, blob = 2) in the order given.
type wireField struct {
	num  protowire.Number
	typ  protowire.Type
	data []byte // bytes fields; varint fields use len(data)
}

func encode(fields ...wireField) []byte {
	var b []byte
	for _, f := range fields {
		b = protowire.AppendTag(b, f.num, f.typ)
		if f.typ == protowire.VarintType {
			b = protowire.AppendVarint(b, uint64(len(f.data)))
		} else {
			b = protowire.AppendBytes(b, f.data)
		}
	}
	return b
}

func blob(n int, fill byte) []byte { return bytes.Repeat([]byte{fill}, n) }

// within reports whether b's memory lies inside data's.
func within(b, data []byte) bool {
	if len(b) == 0 || len(data) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	return p >= lo && p+uintptr(len(b)) <= lo+uintptr(len(data))
}

func TestUnmarshalAlias(t *testing.T) {
	big, big2, small := blob(4*aliasMin, 'a'), blob(2*aliasMin, 'b'), blob(10, 'c')
	text := func(n int) wireField { return wireField{1, protowire.BytesType, blob(n, 't')} }
	bl := func(b []byte) wireField { return wireField{2, protowire.BytesType, b} }
	cases := []struct {
		name    string
		data    []byte
		min     int
		aliased bool
	}{
		{"off", encode(bl(big)), 0, false},
		{"small message", encode(bl(small)), aliasMin, false},
		{"blob alone", encode(bl(big)), aliasMin, true},
		{"text then blob", encode(text(100), bl(big)), aliasMin, true},
		{"blob then text", encode(bl(big), text(100)), aliasMin, true},
		{"text blob text", encode(text(100), bl(big), text(50)), aliasMin, true},
		{"blob twice, last wins", encode(bl(big2), text(3), bl(big)), aliasMin, true},
		{"blob twice, first mostly wasted", encode(bl(big), text(3), bl(big2)), aliasMin, false},
		{"big then small blob", encode(bl(big), bl(small)), aliasMin, false},
		{"small then big blob", encode(bl(small), bl(big)), aliasMin, true},
		{"blob under half", encode(text(3*len(big2)), bl(big2)), aliasMin, false},
		{"blob under min", encode(bl(big)), 8 * aliasMin, false},
		{"blob number as varint after", encode(bl(big), wireField{2, protowire.VarintType, small}), aliasMin, true},
		{"unknown field", encode(bl(big), wireField{9, protowire.BytesType, small}), aliasMin, true},
		{"unknown big field", encode(wireField{9, protowire.BytesType, big}), aliasMin, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := new(echo.SayRequest)
			if err := proto.Unmarshal(tc.data, want); err != nil {
				t.Fatal(err)
			}
			got := &echo.SayRequest{Text: "stale", Blob: []byte("stale")}
			aliased, err := codec.Proto{}.UnmarshalAlias(tc.data, got, tc.min)
			if err != nil {
				t.Fatalf("UnmarshalAlias: %v", err)
			}
			if !proto.Equal(got, want) {
				t.Fatalf("decoded %d/%d bytes (text/blob), proto.Unmarshal %d/%d", len(got.Text), len(got.Blob), len(want.Text), len(want.Blob))
			}
			if aliased != tc.aliased || within(got.Blob, tc.data) != tc.aliased {
				t.Fatalf("aliased = %v, blob within input = %v, want %v", aliased, within(got.Blob, tc.data), tc.aliased)
			}
			if within([]byte(got.Text), tc.data) {
				t.Fatal("text refers to the input")
			}
		})
	}
}

func TestUnmarshalAliasMalformed(t *testing.T) {
	data := encode(wireField{2, protowire.BytesType, blob(4*aliasMin, 'a')})
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"truncated", data[:len(data)-1]},
		{"bad tag", append([]byte{0}, data...)},
		{"trailing garbage", append(append([]byte(nil), data...), 0xff)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := new(echo.SayRequest)
			aliased, err := codec.Proto{}.UnmarshalAlias(tc.data, m, aliasMin)
			if err == nil || aliased {
				t.Fatalf("UnmarshalAlias = %v, %v; want an error", aliased, err)
			}
		})
	}
	if _, err := (codec.Proto{}).UnmarshalAlias(data, new([]byte), aliasMin); err == nil {
		t.Fatal("UnmarshalAlias into a non-message succeeded")
	}
}

// kinds returns a new message of a type with a field of every shape UnmarshalAlias must leave to
// proto.Unmarshal: repeated bytes (1), a oneof (2, 3), a nested message (4), and a plain
// bytes field (5).
func kinds(t testing.TB) func() *dynamicpb.Message {
	t.Helper()
	str := func(s string) *string { return &s }
	i32 := func(i int32) *int32 { return &i }
	lbl := func(l descriptorpb.FieldDescriptorProto_Label) *descriptorpb.FieldDescriptorProto_Label { return &l }
	typ := func(t descriptorpb.FieldDescriptorProto_Type) *descriptorpb.FieldDescriptorProto_Type { return &t }
	opt, rep := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL, descriptorpb.FieldDescriptorProto_LABEL_REPEATED
	byt, msg := descriptorpb.FieldDescriptorProto_TYPE_BYTES, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
	fdp := &descriptorpb.FileDescriptorProto{
		Name: str("aliastest.proto"), Package: str("aliastest"), Syntax: str("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: str("Kinds"),
			Field: []*descriptorpb.FieldDescriptorProto{
				{Name: str("list"), Number: i32(1), Label: lbl(rep), Type: typ(byt)},
				{Name: str("one_a"), Number: i32(2), Label: lbl(opt), Type: typ(byt), OneofIndex: i32(0)},
				{Name: str("one_b"), Number: i32(3), Label: lbl(opt), Type: typ(byt), OneofIndex: i32(0)},
				{Name: str("child"), Number: i32(4), Label: lbl(opt), Type: typ(msg), TypeName: str(".aliastest.Kinds")},
				{Name: str("plain"), Number: i32(5), Label: lbl(opt), Type: typ(byt)},
			},
			OneofDecl: []*descriptorpb.OneofDescriptorProto{{Name: str("one")}},
		}},
	}
	fd, err := protodesc.NewFile(fdp, nil)
	if err != nil {
		t.Fatal(err)
	}
	md := fd.Messages().Get(0)
	return func() *dynamicpb.Message { return dynamicpb.NewMessage(md) }
}

func TestUnmarshalAliasFieldKinds(t *testing.T) {
	big := blob(4*aliasMin, 'k')
	f := func(n protowire.Number, b []byte) wireField { return wireField{n, protowire.BytesType, b} }
	child := encode(f(5, big))
	cases := []struct {
		name    string
		data    []byte
		aliased bool
	}{
		{"repeated", encode(f(1, big), f(1, big)), false},
		{"oneof", encode(f(2, big), f(3, blob(3, 'x'))), false},
		{"nested", encode(f(4, child)), false},
		{"plain", encode(f(1, blob(3, 'x')), f(5, big)), true},
	}
	newKinds := kinds(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, got := newKinds(), newKinds()
			if err := proto.Unmarshal(tc.data, want); err != nil {
				t.Fatal(err)
			}
			aliased, err := codec.Proto{}.UnmarshalAlias(tc.data, got, aliasMin)
			if err != nil {
				t.Fatal(err)
			}
			if aliased != tc.aliased || !proto.Equal(got, want) {
				t.Fatalf("aliased = %v (want %v), equal to proto.Unmarshal: %v", aliased, tc.aliased, proto.Equal(got, want))
			}
		})
	}
}

// FuzzUnmarshalAlias checks that UnmarshalAlias decodes any input as proto.Unmarshal does.
func FuzzUnmarshalAlias(f *testing.F) {
	f.Add(encode(wireField{2, protowire.BytesType, blob(64, 'a')}))
	f.Add(encode(wireField{1, protowire.BytesType, blob(3, 't')}, wireField{2, protowire.BytesType, blob(64, 'a')}, wireField{2, protowire.VarintType, blob(5, 0)}))
	f.Add([]byte{0x12, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		want := new(echo.SayRequest)
		wantErr := proto.Unmarshal(data, want)
		got := new(echo.SayRequest)
		_, err := codec.Proto{}.UnmarshalAlias(data, got, 16)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("UnmarshalAlias error %v, proto.Unmarshal error %v", err, wantErr)
		}
		if err == nil && !proto.Equal(got, want) {
			t.Fatal("UnmarshalAlias and proto.Unmarshal disagree")
		}
	})
}
