package dora

import (
	"github.com/seed857a6cbd/pocket/dora/codec"
)

// Decoding large messages without copying their bytes fields (AliasThreshold,
// WithAliasThreshold).

// DefaultAliasThreshold is the default of AliasThreshold and WithAliasThreshold: 0, off;
// decoded messages hold copies of their bytes fields and the received message's memory goes
// back to nap's buffer pool.
const DefaultAliasThreshold = 0

// AliasThreshold makes the server decode a request's top-level bytes fields of at least n
// bytes without copying them: the request message refers to the memory the request arrived
// in, which then is not given back to nap's buffer pool (the garbage collector frees it
// once the message is gone). This saves a copy of the payload per request, the largest
// single cost of a large call after the system calls (BENCHMARKS.md), for codecs that
// implement codec.AliasUnmarshaler (the built-in proto codec does; others copy as before),
// and only when such fields are at least half of the request, so a small field never keeps
// a large buffer alive. Default DefaultAliasThreshold (0, off); n <= 0 turns it off. 64
// KiB is a sensible value: below it the copy is cheap and the pooled buffer's reuse is
// worth more.
//
// Misuse: a handler (or code it hands the request to) that keeps the request or a bytes
// field after it returns keeps the whole received message alive (at most twice the field's
// size); nothing is ever overwritten. The memory is the request's: modifying the bytes
// field is allowed, as with a copy.
//
// EXPERIMENTAL: a performance option (BENCHMARKS.md has its figures); it may change or go
// away in a later release.
func AliasThreshold(n int) ServerOption {
	return func(o *serverOptions) { o.aliasThreshold = max(n, 0) }
}

// WithAliasThreshold is AliasThreshold for the client's responses: a unary response's
// top-level bytes fields of at least n bytes refer to the memory the response arrived in
// instead of a copy, under the same conditions. Default DefaultAliasThreshold (0, off); n
// <= 0 turns it off.
//
// EXPERIMENTAL: a performance option (BENCHMARKS.md has its figures); it may change or go
// away in a later release.
func WithAliasThreshold(n int) ClientOption {
	return func(o *clientOptions) { o.aliasThreshold = max(n, 0) }
}

// unmarshal decodes data into v with cdc. With alias > 0 and a codec that implements
// codec.AliasUnmarshaler, bytes fields of at least alias bytes may refer to data: kept then
// says so, and data must not go back to a pool.
func unmarshal(cdc codec.Codec, data []byte, v any, alias int) (kept bool, err error) {
	if alias > 0 {
		if au, ok := cdc.(codec.AliasUnmarshaler); ok {
			return au.UnmarshalAlias(data, v, alias)
		}
	}
	return false, cdc.Unmarshal(data, v)
}

// releaseRequest gives the request's memory back to nap's buffer pool once the call is
// over, unless the decoded request refers to it (AliasThreshold).
func (c *serverCall) releaseRequest(msg []byte) {
	if !c.requestKept {
		c.st.Release(msg)
	}
}
