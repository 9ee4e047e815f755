package dora

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/seed857a6cbd/pocket/dora/codec"
)

// Encoding messages with the call's codec, for both sides of a call.

// protoCodec is the default codec, and the only one legacy peers speak.
var protoCodec = codec.Get(codec.NameProto)

// cachedSize encodes a proto message whose size presize has just computed (and cached in
// it), without computing it again. Only for a message nothing changes in between.
var cachedSize = proto.MarshalOptions{UseCachedSize: true}

// marshal appends v encoded with cdc to b: a proto message in place after presize made
// room for it (its size computed once), other codecs in place when they can append, by a
// copy of Marshal's result otherwise.
func marshal(cdc codec.Codec, b []byte, v any) ([]byte, error) {
	if m, ok := v.(proto.Message); ok && cdc == protoCodec {
		out, err := cachedSize.MarshalAppend(presize(b, m), m)
		if err != nil {
			return b, fmt.Errorf("codec: proto marshal %T: %w", v, err)
		}
		return out, nil
	}
	if am, ok := cdc.(codec.AppendMarshaler); ok {
		return am.MarshalAppend(b, v)
	}
	out, err := cdc.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, out...), nil
}

// splitMin is the size from which a proto message's largest singular bytes field is
// sent from the message's own memory instead of being copied into the encoding
// (marshalSplit), 64 KiB: below it the copy costs less than finding the field.
const splitMin = AliasMinBytes // one threshold for large fields, sent or decoded in place

// marshalSplit appends v encoded with cdc to b, like marshal, except that the bytes of
// the largest singular bytes field of a proto message, when it has one of at least
// splitMin bytes, are not copied: they are returned as tail, to be sent right after out
// (nap's SendV) from the message's memory, which the caller must not change until the
// send returns (as for any message being sent). out then ends with the field's tag and
// length, the field coming last in the encoding (protobuf decoders accept fields in any
// order; the receiver decodes it as any other field). tail is nil when nothing was split:
// on false (SendInPlace off), other codecs, smaller messages, a proto2 required field.
func marshalSplit(cdc codec.Codec, b []byte, v any, on bool) (out, tail []byte, err error) {
	m, ok := v.(proto.Message)
	if !on || cdc != protoCodec || !ok {
		out, err = marshal(cdc, b, v)
		return out, nil, err
	}
	if proto.Size(m) < splitMin {
		out, err = marshal(cdc, b, v)
		return out, nil, err
	}
	r := m.ProtoReflect()
	var big protoreflect.FieldDescriptor
	fds := r.Descriptor().Fields()
	for i := 0; i < fds.Len(); i++ {
		fd := fds.Get(i)
		if fd.Kind() != protoreflect.BytesKind || fd.Cardinality() != protoreflect.Optional || !r.Has(fd) {
			continue
		}
		if v := r.Get(fd).Bytes(); len(v) >= splitMin && len(v) > len(tail) {
			big, tail = fd, v
		}
	}
	if big == nil {
		out, err = marshal(cdc, b, v)
		return out, nil, err
	}
	// The other fields, shared (not copied) with m, in a message of the same type.
	rest := r.New()
	for i := 0; i < fds.Len(); i++ {
		if fd := fds.Get(i); fd != big && r.Has(fd) {
			rest.Set(fd, r.Get(fd))
		}
	}
	if r.Descriptor().ExtensionRanges().Len() > 0 {
		r.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
			if fd.IsExtension() {
				rest.Set(fd, val)
			}
			return true
		})
	}
	if u := r.GetUnknown(); len(u) > 0 {
		rest.SetUnknown(u)
	}
	if out, err = marshal(cdc, b, rest.Interface()); err != nil {
		return b, nil, err
	}
	out = protowire.AppendTag(out, big.Number(), protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(len(tail)))
	return out, tail, nil
}
