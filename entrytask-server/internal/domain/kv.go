package domain

import "fmt"

// Key and value size limits. Keys are 1..KeyMaxBytes bytes; values 0..the configured limit,
// DefaultValueMaxBytes (1 MiB) unless configured.
const (
	KeyMinBytes          = 1
	KeyMaxBytes          = 4096
	DefaultValueMaxBytes = 1 << 20
)

// ValidateKey returns ErrInvalidArgument (wrapped, naming the limit) for a key outside
// KeyMinBytes..KeyMaxBytes.
func ValidateKey(key string) error {
	if len(key) < KeyMinBytes {
		return fmt.Errorf("%w: key is empty, minimum %d byte", ErrInvalidArgument, KeyMinBytes)
	}
	if len(key) > KeyMaxBytes {
		return fmt.Errorf("%w: key is %d bytes, limit %d", ErrInvalidArgument, len(key), KeyMaxBytes)
	}
	return nil
}

// ValidateValue returns ErrInvalidArgument (wrapped, naming the limit) for a value longer
// than limit bytes; limit <= 0 means DefaultValueMaxBytes.
func ValidateValue(value []byte, limit int) error {
	if limit <= 0 {
		limit = DefaultValueMaxBytes
	}
	if len(value) > limit {
		return fmt.Errorf("%w: value is %d bytes, limit %d", ErrInvalidArgument, len(value), limit)
	}
	return nil
}
