package dora

import (
	"encoding/base64"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// MetaDetails carries the status details of a failed call (PROTOCOL.md §5): base64 (standard
// alphabet, sent without padding, accepted with or without) of a protobuf message
// `message StatusDetails { repeated google.protobuf.Any details = 1; }`.
const MetaDetails = "dora-details-bin"

// fieldDetailsAny is StatusDetails.details.
const fieldDetailsAny = 1

// encodeDetails returns the MetaDetails value for details ("" when there are none).
func encodeDetails(details []*anypb.Any) (string, error) {
	if len(details) == 0 {
		return "", nil
	}
	var b []byte
	for _, a := range details {
		m, err := proto.Marshal(a)
		if err != nil {
			return "", fmt.Errorf("dora: encoding status details: %w", err)
		}
		b = protowire.AppendTag(b, fieldDetailsAny, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	}
	return base64.RawStdEncoding.EncodeToString(b), nil
}

// decodeDetails parses a MetaDetails value.
func decodeDetails(s string) ([]*anypb.Any, error) {
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("%s is not base64: %w", MetaDetails, err)
	}
	var out []*anypb.Any
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("%s: %w", MetaDetails, protowire.ParseError(n))
		}
		b = b[n:]
		if num != fieldDetailsAny || typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b) // unknown field: skipped
			if n < 0 {
				return nil, fmt.Errorf("%s: %w", MetaDetails, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, fmt.Errorf("%s: %w", MetaDetails, protowire.ParseError(n))
		}
		b = b[n:]
		a := new(anypb.Any)
		if err := proto.Unmarshal(v, a); err != nil {
			return nil, fmt.Errorf("%s: %w", MetaDetails, err)
		}
		out = append(out, a)
	}
	return out, nil
}
