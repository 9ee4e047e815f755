package codec

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// JSON is the protojson codec ("json"): the canonical JSON mapping of protobuf messages.
// Unmarshal ignores unknown fields, so an older server accepts a newer client's JSON.
type JSON struct{}

var jsonMarshal = protojson.MarshalOptions{}
var jsonUnmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}

// Name returns NameJSON.
func (JSON) Name() string { return NameJSON }

// Marshal encodes v, which must be a proto.Message, as JSON.
func (JSON) Marshal(v any) ([]byte, error) { return JSON{}.MarshalAppend(nil, v) }

// MarshalAppend appends the JSON encoding of v, which must be a proto.Message, to b.
func (JSON) MarshalAppend(b []byte, v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return b, fmt.Errorf("%w: json codec needs a proto.Message, got %T", ErrType, v)
	}
	out, err := jsonMarshal.MarshalAppend(b, m)
	if err != nil {
		return b, fmt.Errorf("codec: json marshal %T: %w", v, err)
	}
	return out, nil
}

// Unmarshal decodes JSON data into v, which must be a proto.Message; v is reset first.
func (JSON) Unmarshal(data []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("%w: json codec needs a proto.Message, got %T", ErrType, v)
	}
	proto.Reset(m)
	if err := jsonUnmarshal.Unmarshal(data, m); err != nil {
		return fmt.Errorf("codec: json unmarshal %T: %w", v, err)
	}
	return nil
}
