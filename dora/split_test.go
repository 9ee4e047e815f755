package dora

import (
	"bytes"
	"fmt"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/seed857a6cbd/pocket/dora/codec"
)

// splitTestType builds a message type with two bytes fields, a nested message, a
// repeated field and a oneof holding bytes, for marshalSplit's tests.
func splitTestType(t *testing.T) protoreflect.MessageType {
	t.Helper()
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	rep := descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
	typ := func(k descriptorpb.FieldDescriptorProto_Type) *descriptorpb.FieldDescriptorProto_Type {
		return k.Enum()
	}
	zero := int32(0)
	fd := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("split_test.proto"),
		Package: proto.String("splittest"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("M"),
			Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("a"), Number: proto.Int32(1), Label: opt, Type: typ(descriptorpb.FieldDescriptorProto_TYPE_BYTES)},
				{Name: proto.String("b"), Number: proto.Int32(2), Label: opt, Type: typ(descriptorpb.FieldDescriptorProto_TYPE_BYTES)},
				{Name: proto.String("name"), Number: proto.Int32(3), Label: opt, Type: typ(descriptorpb.FieldDescriptorProto_TYPE_STRING)},
				{Name: proto.String("list"), Number: proto.Int32(4), Label: rep, Type: typ(descriptorpb.FieldDescriptorProto_TYPE_BYTES)},
				{Name: proto.String("child"), Number: proto.Int32(5), Label: opt, Type: typ(descriptorpb.FieldDescriptorProto_TYPE_MESSAGE), TypeName: proto.String(".splittest.M")},
				{Name: proto.String("c"), Number: proto.Int32(6), Label: opt, Type: typ(descriptorpb.FieldDescriptorProto_TYPE_BYTES), OneofIndex: &zero},
			},
			OneofDecl: []*descriptorpb.OneofDescriptorProto{{Name: proto.String("choice")}},
		}},
	}
	f, err := protodesc.NewFile(fd, nil)
	if err != nil {
		t.Fatal(err)
	}
	return dynamicpb.NewMessageType(f.Messages().Get(0))
}

func filled(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

func TestMarshalSplit(t *testing.T) {
	mt := splitTestType(t)
	dyn := func(set func(m protoreflect.Message, f protoreflect.FieldDescriptors)) proto.Message {
		m := mt.New()
		set(m, m.Descriptor().Fields())
		return m.Interface()
	}
	say := func(text string, blob []byte) proto.Message { // a text and a blob, like echo.SayRequest
		return dyn(func(m protoreflect.Message, f protoreflect.FieldDescriptors) {
			m.Set(f.ByName("name"), protoreflect.ValueOfString(text))
			if blob != nil {
				m.Set(f.ByName("a"), protoreflect.ValueOfBytes(blob))
			}
		})
	}
	withUnknown := say("hi", filled(splitMin, 'u'))
	withUnknown.ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, 99, protowire.BytesType), filled(100, 'z')))
	cases := []struct {
		name  string
		msg   proto.Message
		split int // length of the tail, 0: not split
	}{
		{"small", say("hi", filled(100, 'x')), 0},
		{"just under", say("", filled(splitMin-10, 'x')), 0},
		{"large text, no bytes", say(string(filled(2*splitMin, 't')), nil), 0},
		{"blob at the limit", say("hi", filled(splitMin, 'x')), splitMin},
		{"blob 1 MiB", say("hi", filled(1<<20, 'x')), 1 << 20},
		{"unknown fields kept", withUnknown, splitMin},
		{"any", &anypb.Any{TypeUrl: "x/y", Value: filled(100<<10, 'a')}, 100 << 10},
		{"wrapper", wrapperspb.Bytes(filled(70<<10, 'w')), 70 << 10},
		{"the larger of two", dyn(func(m protoreflect.Message, f protoreflect.FieldDescriptors) {
			m.Set(f.ByName("a"), protoreflect.ValueOfBytes(filled(splitMin, 'a')))
			m.Set(f.ByName("b"), protoreflect.ValueOfBytes(filled(splitMin+1, 'b')))
			m.Set(f.ByName("name"), protoreflect.ValueOfString("n"))
		}), splitMin + 1},
		{"nested, repeated and oneof", dyn(func(m protoreflect.Message, f protoreflect.FieldDescriptors) {
			child := m.NewField(f.ByName("child")).Message()
			child.Set(f.ByName("a"), protoreflect.ValueOfBytes(filled(2*splitMin, 'c'))) // nested: not split
			m.Set(f.ByName("child"), protoreflect.ValueOfMessage(child))
			l := m.Mutable(f.ByName("list")).List()
			l.Append(protoreflect.ValueOfBytes(filled(3*splitMin, 'l'))) // repeated: not split
			m.Set(f.ByName("c"), protoreflect.ValueOfBytes(filled(splitMin+5, 'o')))
			m.Set(f.ByName("a"), protoreflect.ValueOfBytes(filled(10, 'a')))
		}), splitMin + 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := proto.Clone(tc.msg)
			out, tail, err := marshalSplit(protoCodec, []byte("prefix"), tc.msg, true)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(out, []byte("prefix")) {
				t.Fatal("marshalSplit did not append to b")
			}
			if len(tail) != tc.split {
				t.Fatalf("tail of %d bytes, want %d", len(tail), tc.split)
			}
			if n := proto.Size(tc.msg); len(out)-len("prefix")+len(tail) != n {
				t.Fatalf("encoding of %d + %d bytes, proto.Size says %d", len(out)-len("prefix"), len(tail), n)
			}
			wire := append(bytes.Clone(out[len("prefix"):]), tail...)
			got := tc.msg.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(wire, got); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, tc.msg) {
				t.Fatal("decoded message differs from the original")
			}
			if !proto.Equal(tc.msg, before) {
				t.Fatal("marshalSplit changed the message")
			}
		})
	}
}

func TestMarshalSplitOff(t *testing.T) {
	msg := wrapperspb.Bytes(filled(2*splitMin, 'w'))
	out, tail, err := marshalSplit(protoCodec, nil, msg, false)
	if want, _ := proto.Marshal(msg); err != nil || tail != nil || !bytes.Equal(out, want) {
		t.Fatalf("SendInPlace off: %d bytes, tail %d, %v", len(out), len(tail), err)
	}
}

func TestMarshalSplitOtherCodecs(t *testing.T) {
	blob := filled(2*splitMin, 'r')
	out, tail, err := marshalSplit(codec.Get(codec.NameRaw), nil, &blob, true)
	if err != nil || tail != nil || !bytes.Equal(out, blob) {
		t.Fatalf("raw codec: %d bytes, tail %d, %v", len(out), len(tail), err)
	}
}

func TestMarshalSplitAllocs(t *testing.T) {
	msg := &anypb.Any{TypeUrl: "x/y", Value: filled(1<<20, 'a')}
	b := make([]byte, 0, 4096)
	n := testing.AllocsPerRun(100, func() {
		if _, tail, err := marshalSplit(protoCodec, b[:0], msg, true); err != nil || tail == nil {
			t.Fatal("not split", err)
		}
	})
	// The message holding the other fields, and protobuf's reflection converting the
	// string field on its way there.
	if n > 3 {
		t.Fatalf("%.1f allocations per split, want at most 3", n)
	}
}

// BenchmarkEncodeLarge: encoding a message with one large bytes field, copied into a
// pooled buffer (marshal, as before marshalSplit) and split (the field left in place).
// BenchmarkEncodeSmall is marshal of a message of the entry task's read reply size (a
// 2000-byte value): the encoding every small unary reply takes.
func BenchmarkEncodeSmall(b *testing.B) {
	msg := &anypb.Any{TypeUrl: "type.googleapis.com/kv.ReadSecureMessageResp", Value: filled(2000, 'v')}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p := getBuf()
		var err error
		if *p, err = marshal(protoCodec, (*p)[:0], msg); err != nil {
			b.Fatal(err)
		}
		putBuf(p)
	}
}

func BenchmarkEncodeLarge(b *testing.B) {
	for _, size := range []int{64 << 10, 256 << 10, 1 << 20, 4 << 20} {
		msg := &anypb.Any{TypeUrl: "x/y", Value: filled(size, 'a')}
		for _, split := range []bool{false, true} {
			b.Run(fmt.Sprintf("size=%dKiB/split=%v", size>>10, split), func(b *testing.B) {
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					p := getBuf()
					var err error
					if split {
						*p, _, err = marshalSplit(protoCodec, (*p)[:0], msg, true)
					} else {
						*p, err = marshal(protoCodec, (*p)[:0], msg)
					}
					if err != nil {
						b.Fatal(err)
					}
					putBuf(p)
				}
			})
		}
	}
}
