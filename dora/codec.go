package dora

import "github.com/seed857a6cbd/pocket/dora/codec"

// Encoding messages with the call's codec, for both sides of a call.

// protoCodec is the default codec, and the only one legacy peers speak.
var protoCodec = codec.Get(codec.NameProto)

// marshal appends v encoded with cdc to b: in place for codecs that can append (after
// presize made room for a proto message), by a copy of Marshal's result otherwise.
func marshal(cdc codec.Codec, b []byte, v any) ([]byte, error) {
	if am, ok := cdc.(codec.AppendMarshaler); ok {
		return am.MarshalAppend(presize(cdc, b, v), v)
	}
	out, err := cdc.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, out...), nil
}
