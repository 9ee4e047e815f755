package codec

import (
	"fmt"

	"google.golang.org/protobuf/proto"
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
