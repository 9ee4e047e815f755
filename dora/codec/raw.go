package codec

import "fmt"

// Raw passes bytes through ("raw"): Marshal takes []byte or *[]byte, Unmarshal needs a
// *[]byte and stores a copy of the payload in it.
type Raw struct{}

// Name returns NameRaw.
func (Raw) Name() string { return NameRaw }

// Marshal returns v's bytes (not copied).
func (Raw) Marshal(v any) ([]byte, error) {
	switch b := v.(type) {
	case []byte:
		return b, nil
	case *[]byte:
		return *b, nil
	}
	return nil, fmt.Errorf("%w: raw codec needs []byte or *[]byte, got %T", ErrType, v)
}

// MarshalAppend appends v's bytes to b.
func (Raw) MarshalAppend(b []byte, v any) ([]byte, error) {
	p, err := Raw{}.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, p...), nil
}

// Unmarshal stores a copy of data in v, which must be a *[]byte.
func (Raw) Unmarshal(data []byte, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("%w: raw codec needs *[]byte, got %T", ErrType, v)
	}
	*p = append((*p)[:0], data...)
	return nil
}
