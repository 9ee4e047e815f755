// Package codec turns messages into payload bytes and back, by name: the name travels in
// every Pkg's Head.serialize_type, so the server answers in the codec the client chose.
//
// Built in: "proto" (the default, also used when serialize_type is empty), "json"
// (protojson) and "raw" (the payload is the message: *[]byte or []byte). Register adds more.
package codec

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Codec marshals and unmarshals messages. Implementations must be safe for concurrent use.
type Codec interface {
	// Name is the serialize_type that selects the codec ("proto").
	Name() string
	// Marshal encodes v.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into v. v does not keep data: data may be reused afterwards.
	Unmarshal(data []byte, v any) error
}

// AppendMarshaler is implemented by codecs that can encode into a caller's buffer; dora uses
// it to avoid an allocation per message.
type AppendMarshaler interface {
	// MarshalAppend appends the encoding of v to b and returns the extended slice.
	MarshalAppend(b []byte, v any) ([]byte, error)
}

// Names of the built-in codecs.
const (
	// NameProto is the protobuf binary codec, the default.
	NameProto = "proto"
	// NameJSON is the protojson codec.
	NameJSON = "json"
	// NameRaw passes bytes through unchanged.
	NameRaw = "raw"
)

// ErrUnknown is wrapped by Lookup's error for a name no codec is registered under.
var ErrUnknown = errors.New("codec: unknown serialize_type")

// ErrType is wrapped by the errors of built-in codecs given a value of the wrong type.
var ErrType = errors.New("codec: wrong message type")

var (
	mu       sync.Mutex                       // serialises Register
	registry atomic.Pointer[map[string]Codec] // copy-on-write, read without locks
)

func init() {
	m := map[string]Codec{}
	registry.Store(&m)
	Register(Proto{})
	Register(JSON{})
	Register(Raw{})
}

// Register makes c available under c.Name(), replacing any codec of that name. Names are
// case-sensitive and must be non-empty; Register panics on an empty name (a programming
// error). Register is meant for init time but is safe at any time.
func Register(c Codec) {
	name := c.Name()
	if name == "" {
		panic("codec: Register with an empty name")
	}
	mu.Lock()
	defer mu.Unlock()
	old := *registry.Load()
	m := make(map[string]Codec, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[name] = c
	registry.Store(&m)
}

// Get returns the codec registered under name, or nil. The empty name means NameProto.
func Get(name string) Codec {
	if name == "" {
		name = NameProto
	}
	return (*registry.Load())[name]
}

// Lookup is Get with an error naming the unknown serialize_type and the registered ones; the
// error wraps ErrUnknown.
func Lookup(name string) (Codec, error) {
	if c := Get(name); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("%w %q (registered: %s)", ErrUnknown, name, strings.Join(Names(), ", "))
}

// Names returns the registered codec names, sorted.
func Names() []string {
	m := *registry.Load()
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// AliasUnmarshaler is implemented by codecs that can decode without copying large byte
// fields: dora uses it under AliasRequests (server) and LeaseReply (a call). Proto
// implements it; JSON and Raw do not (they copy).
type AliasUnmarshaler interface {
	// UnmarshalAlias decodes data into v like Unmarshal, except that byte fields of at
	// least min bytes may refer to data instead of holding a copy. It reports whether v
	// refers to data: the caller must then neither modify data nor reuse its memory (give
	// it back to a pool) for as long as v or any slice taken from it lives. min <= 0 is
	// Unmarshal.
	UnmarshalAlias(data []byte, v any, min int) (aliased bool, err error)
}
