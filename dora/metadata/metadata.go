// Package metadata is the key/value metadata that travels with a dora call, in the `meta` map
// of the call's Head: outgoing metadata attached to a client's context, incoming metadata a
// handler reads from its context.
//
// Keys are lower-case strings (New, Pairs and Set lower-case them); keys starting with
// "dora-" are reserved for the framework and are refused on outgoing calls. One key has one
// value: the wire carries map<string, string>.
package metadata

import (
	"context"
	"fmt"
	"strings"
)

// ReservedPrefix starts every key that belongs to the dora framework ("dora-status",
// "dora-message", ...). User metadata must not use it.
const ReservedPrefix = "dora-"

// IsReserved reports whether key belongs to the framework (starts with ReservedPrefix,
// case-insensitively).
func IsReserved(key string) bool {
	return len(key) >= len(ReservedPrefix) && strings.EqualFold(key[:len(ReservedPrefix)], ReservedPrefix)
}

// MD is call metadata: lower-case keys, one value each. A nil MD is empty and readable.
type MD map[string]string

// New returns an MD holding m with lower-cased keys.
func New(m map[string]string) MD {
	md := make(MD, len(m))
	for k, v := range m {
		md[strings.ToLower(k)] = v
	}
	return md
}

// Pairs returns an MD from alternating keys and values: Pairs("username", "ann", "token", "t1").
// Keys are lower-cased; a repeated key keeps the last value. Pairs panics when given an odd
// number of strings (a programming error).
func Pairs(kv ...string) MD {
	if len(kv)%2 == 1 {
		panic(fmt.Sprintf("metadata: Pairs got an odd number of strings (%d)", len(kv)))
	}
	md := make(MD, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		md[strings.ToLower(kv[i])] = kv[i+1]
	}
	return md
}

// Len returns the number of keys.
func (md MD) Len() int { return len(md) }

// Get returns the value of key ("" when absent); key is matched case-insensitively.
func (md MD) Get(key string) string {
	if v, ok := md[key]; ok {
		return v
	}
	return md[strings.ToLower(key)]
}

// Lookup returns the value of key and whether it is present; key is matched case-insensitively.
func (md MD) Lookup(key string) (string, bool) {
	if v, ok := md[key]; ok {
		return v, true
	}
	v, ok := md[strings.ToLower(key)]
	return v, ok
}

// Set sets key (lower-cased) to value. Set on a nil MD panics, like any nil map write.
func (md MD) Set(key, value string) { md[strings.ToLower(key)] = value }

// Delete removes key (lower-cased).
func (md MD) Delete(key string) { delete(md, strings.ToLower(key)) }

// Copy returns a copy of md (nil for an empty md).
func (md MD) Copy() MD {
	if len(md) == 0 {
		return nil
	}
	out := make(MD, len(md))
	for k, v := range md {
		out[k] = v
	}
	return out
}

// Join returns one MD with the keys of all mds; for a key present in several, the last wins.
func Join(mds ...MD) MD {
	n := 0
	for _, md := range mds {
		n += len(md)
	}
	out := make(MD, n)
	for _, md := range mds {
		for k, v := range md {
			out[k] = v
		}
	}
	return out
}

type outgoingKey struct{}
type incomingKey struct{}

// NewOutgoingContext returns a child of ctx whose outgoing metadata is md, replacing any
// attached before. Calls made with the context send md.
func NewOutgoingContext(ctx context.Context, md MD) context.Context {
	return context.WithValue(ctx, outgoingKey{}, md)
}

// AppendToOutgoingContext returns a child of ctx whose outgoing metadata is ctx's plus the
// given key/value pairs (keys lower-cased, later values win). It panics on an odd number of
// strings, like Pairs.
func AppendToOutgoingContext(ctx context.Context, kv ...string) context.Context {
	add := Pairs(kv...)
	old, _ := ctx.Value(outgoingKey{}).(MD)
	return context.WithValue(ctx, outgoingKey{}, Join(old, add))
}

// FromOutgoingContext returns the outgoing metadata of ctx and whether there is any. The MD
// is shared: copy it before changing it.
func FromOutgoingContext(ctx context.Context) (MD, bool) {
	md, ok := ctx.Value(outgoingKey{}).(MD)
	return md, ok
}

// NewIncomingContext returns a child of ctx carrying md as incoming metadata. The dora
// server does this for every call; tests of handlers can use it too.
func NewIncomingContext(ctx context.Context, md MD) context.Context {
	return context.WithValue(ctx, incomingKey{}, md)
}

// FromIncomingContext returns the metadata the client sent (user keys only: reserved "dora-"
// keys are removed by the server) and whether there is any. The MD is shared by the call:
// copy it before changing it.
func FromIncomingContext(ctx context.Context) (MD, bool) {
	md, ok := ctx.Value(incomingKey{}).(MD)
	return md, ok
}

// ValueFromIncomingContext returns the incoming value of key ("" when absent).
func ValueFromIncomingContext(ctx context.Context, key string) string {
	md, _ := ctx.Value(incomingKey{}).(MD)
	return md.Get(key)
}
