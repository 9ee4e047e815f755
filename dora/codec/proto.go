package codec

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Proto is the protobuf binary codec ("proto"): messages must implement proto.Message
// (generated types and dynamicpb messages both do).
type Proto struct{}

var protoMarshal = proto.MarshalOptions{}
var protoUnmarshal = proto.UnmarshalOptions{}

// Name returns NameProto.
func (Proto) Name() string { return NameProto }

// Marshal encodes v, which must be a proto.Message.
func (Proto) Marshal(v any) ([]byte, error) { return Proto{}.MarshalAppend(nil, v) }

// MarshalAppend appends the encoding of v, which must be a proto.Message, to b.
func (Proto) MarshalAppend(b []byte, v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return b, fmt.Errorf("%w: proto codec needs a proto.Message, got %T", ErrType, v)
	}
	out, err := protoMarshal.MarshalAppend(b, m)
	if err != nil {
		return b, fmt.Errorf("codec: proto marshal %T: %w", v, err)
	}
	return out, nil
}

// Unmarshal decodes data into v, which must be a proto.Message; v is reset first.
func (Proto) Unmarshal(data []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("%w: proto codec needs a proto.Message, got %T", ErrType, v)
	}
	proto.Reset(m)
	if err := protoUnmarshal.Unmarshal(data, m); err != nil {
		return fmt.Errorf("codec: proto unmarshal %T: %w", v, err)
	}
	return nil
}

// maxAliasFields is the most distinct fields UnmarshalAlias lets refer to its input; a
// message with more large bytes fields is decoded with copies beyond the first ones.
const maxAliasFields = 4

// aliasField is a bytes field UnmarshalAlias sets to a slice of its input.
type aliasField struct {
	fd    protoreflect.FieldDescriptor
	value []byte // the last occurrence's bytes
}

// UnmarshalAlias decodes data into v, which must be a proto.Message, like Unmarshal,
// except that a top-level singular bytes field (not in a oneof, not required) whose value
// on the wire is at least min bytes refers to data instead of a copy, when such fields
// make up at least half of data (so that a small field cannot keep a large buffer alive).
// The rest of the message is decoded by proto.Unmarshal as usual (nested messages copy
// their bytes fields). It reports whether v refers to data; see AliasUnmarshaler for what
// the caller must then not do. min <= 0, or a message with no such field, is Unmarshal.
// protobuf-go has no public option that aliases bytes fields
// (protoiface.UnmarshalAliasBuffer is not honoured for them), hence this decoder.
func (Proto) UnmarshalAlias(data []byte, v any, min int) (bool, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return false, fmt.Errorf("%w: proto codec needs a proto.Message, got %T", ErrType, v)
	}
	if min <= 0 || len(data) < min {
		return false, Proto{}.Unmarshal(data, v)
	}
	var buf [maxAliasFields]aliasField
	fields := findAliasFields(m.ProtoReflect().Descriptor().Fields(), data, min, buf[:0])
	if len(fields) == 0 {
		return false, Proto{}.Unmarshal(data, v)
	}
	rest := withoutFields(data, fields)
	proto.Reset(m)
	if err := protoUnmarshal.Unmarshal(rest, m); err != nil {
		return false, fmt.Errorf("codec: proto unmarshal %T: %w", v, err)
	}
	r := m.ProtoReflect()
	for _, f := range fields {
		r.Set(f.fd, protoreflect.ValueOfBytes(f.value))
	}
	return true, nil
}

// findAliasFields returns the fields of data (top level) that UnmarshalAlias may alias:
// singular bytes fields whose last occurrence is at least min bytes, if their values
// together are at least half of data. Malformed data returns none (Unmarshal then reports
// the error).
func findAliasFields(fds protoreflect.FieldDescriptors, data []byte, min int, out []aliasField) []aliasField {
	total := 0
	for b := data; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil
		}
		if typ == protowire.BytesType {
			val, _ := protowire.ConsumeBytes(b[n:])
			i := 0
			for i < len(out) && out[i].fd.Number() != num {
				i++
			}
			switch {
			case i < len(out):
				// A field repeated on the wire: the last occurrence wins, as in
				// proto.Unmarshal; a small one ends the aliasing of the field.
				total -= len(out[i].value)
				if len(val) >= min {
					out[i].value = val
					total += len(val)
				} else {
					out = append(out[:i], out[i+1:]...)
				}
			case len(val) >= min && len(out) < cap(out):
				if fd := fds.ByNumber(num); aliasable(fd) {
					out = append(out, aliasField{fd: fd, value: val})
					total += len(val)
				}
			}
		}
		b = b[n+m:]
	}
	if 2*total < len(data) {
		return nil
	}
	return out
}

// aliasable reports whether fd is a field UnmarshalAlias may set to a slice of its input.
func aliasable(fd protoreflect.FieldDescriptor) bool {
	if fd == nil || fd.Kind() != protoreflect.BytesKind || fd.Cardinality() != protoreflect.Optional || fd.IsExtension() {
		return false
	}
	od := fd.ContainingOneof()
	return od == nil || od.IsSynthetic()
}

// withoutFields returns data without the occurrences (wire type bytes) of fields' numbers:
// a subslice of data when what is left is contiguous, a new buffer otherwise.
func withoutFields(data []byte, fields []aliasField) []byte {
	var rest []byte
	keep := func(run []byte) {
		switch {
		case len(run) == 0:
		case rest == nil:
			rest = run[:len(run):len(run)] // full: the next append copies, data stays intact
		default:
			rest = append(rest, run...)
		}
	}
	start := 0 // start of the run of kept bytes
	for off := 0; off < len(data); {
		num, typ, n := protowire.ConsumeTag(data[off:])
		m := protowire.ConsumeFieldValue(num, typ, data[off+n:]) // valid: findAliasFields checked
		drop := false
		for _, f := range fields {
			drop = drop || (typ == protowire.BytesType && f.fd.Number() == num)
		}
		if drop {
			keep(data[start:off])
			start = off + n + m
		}
		off += n + m
	}
	keep(data[start:])
	return rest
}
