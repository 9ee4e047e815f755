// Package metadata is the key/value metadata that travels with a dora call, in the `meta` map
// of the call's Head: outgoing metadata attached to a client's context, incoming metadata a
// handler reads from its context.
//
// Keys are lower-case strings (New, Pairs and Set lower-case them); keys starting with
// "dora-" are reserved for the framework and are refused on outgoing calls. A key has one or
// more values; keys ending in "-bin" carry arbitrary bytes. PROTOCOL.md §2 says how both
// travel, and what peers of the previous dora version see of them.
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

// BinarySuffix ends the keys whose values are arbitrary bytes ("trace-bin", "sig-bin"): only
// their values may be non-UTF-8. dora carries them unchanged between current peers; a
// previous-version peer sees such a value in base64 (PROTOCOL.md §2).
const BinarySuffix = "-bin"

// IsBinary reports whether key names binary values (ends with BinarySuffix,
// case-insensitively).
func IsBinary(key string) bool {
	return len(key) >= len(BinarySuffix) && strings.EqualFold(key[len(key)-len(BinarySuffix):], BinarySuffix)
}

// MD is call metadata: lower-case keys, each with one or more values in order. A nil MD is
// empty and readable. Values of keys ending in BinarySuffix may hold any bytes; other
// values must be UTF-8 (dora refuses to send them otherwise).
type MD map[string][]string

// New returns an MD holding m with lower-cased keys, one value each.
func New(m map[string]string) MD {
	md := make(MD, len(m))
	for k, v := range m {
		md[strings.ToLower(k)] = []string{v}
	}
	return md
}

// Pairs returns an MD from alternating keys and values: Pairs("username", "ann", "token", "t1").
// Keys are lower-cased; a repeated key gets each of its values, in order. Pairs panics when
// given an odd number of strings (a programming error).
func Pairs(kv ...string) MD {
	if len(kv)%2 == 1 {
		panic(fmt.Sprintf("metadata: Pairs got an odd number of strings (%d)", len(kv)))
	}
	md := make(MD, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k := strings.ToLower(kv[i])
		md[k] = append(md[k], kv[i+1])
	}
	return md
}

// Len returns the number of keys.
func (md MD) Len() int { return len(md) }

// Get returns the first value of key ("" when absent); key is matched case-insensitively.
func (md MD) Get(key string) string {
	v, _ := md.Lookup(key)
	return v
}

// Lookup returns the first value of key and whether key has a value; key is matched
// case-insensitively.
func (md MD) Lookup(key string) (string, bool) {
	vs := md.Values(key)
	if len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

// Values returns every value of key in order (nil when absent); key is matched
// case-insensitively. The slice is md's own: copy it before changing it.
func (md MD) Values(key string) []string {
	if vs, ok := md[key]; ok {
		return vs
	}
	return md[strings.ToLower(key)]
}

// Set replaces the values of key (lower-cased) with vals; with no vals it deletes key. Set on
// a nil MD panics, like any nil map write.
func (md MD) Set(key string, vals ...string) {
	k := strings.ToLower(key)
	if len(vals) == 0 {
		delete(md, k)
		return
	}
	md[k] = append([]string(nil), vals...)
}

// Append adds vals after the values key (lower-cased) already has. Append on a nil MD
// panics, like any nil map write.
func (md MD) Append(key string, vals ...string) {
	if len(vals) == 0 {
		return
	}
	k := strings.ToLower(key)
	md[k] = append(md[k][:len(md[k]):len(md[k])], vals...)
}

// Delete removes key (lower-cased).
func (md MD) Delete(key string) { delete(md, strings.ToLower(key)) }

// Copy returns a deep copy of md (nil for an empty md).
func (md MD) Copy() MD {
	if len(md) == 0 {
		return nil
	}
	out := make(MD, len(md))
	for k, v := range md {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// Join returns one MD with the keys of all mds; for a key present in several, the values of
// the last replace the others (use Append to accumulate). The result shares no slice with
// mds.
func Join(mds ...MD) MD {
	n := 0
	for _, md := range mds {
		n += len(md)
	}
	out := make(MD, n)
	for _, md := range mds {
		for k, v := range md {
			out[k] = append([]string(nil), v...)
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
// given key/value pairs: keys lower-cased; a key given here replaces that key's values
// in ctx, and a key repeated here gets each of its values. It panics on an odd number of
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

// ValueFromIncomingContext returns the first incoming value of key ("" when absent).
func ValueFromIncomingContext(ctx context.Context, key string) string {
	md, _ := ctx.Value(incomingKey{}).(MD)
	return md.Get(key)
}
