package dora

import (
	"github.com/seed857a6cbd/pocket/dora/codec"
	"github.com/seed857a6cbd/pocket/nap"
)

// Decoding large messages without copying their bytes fields: AliasRequests on a server,
// LeaseReply on a call.

// AliasMinBytes is the smallest bytes field AliasRequests and LeaseReply decode without a
// copy: 64 KiB, as SendInPlace. Below it the copy is cheap.
const AliasMinBytes = 64 << 10

// AliasRequests(true) makes the server decode a unary request's top-level singular bytes
// fields of at least AliasMinBytes without copying them: the request refers to the pooled
// buffer the request arrived in, and that buffer goes back to nap's pool once the call is
// over (after the handler returned and its response was sent), where a later message
// overwrites it. This saves the receiver's copy of the payload and, since the buffer is
// reused, the new memory proto.Unmarshal would take for it: the largest cost of a large
// call after the system calls (BENCHMARKS.md, "Large fields decoded in place"). It applies
// to the proto codec (codec.AliasUnmarshaler), to requests whose large fields make up at
// least half of the message, and not to streams, whose messages are copied as without it.
// Default false.
//
// Misuse corrupts data silently: the handler, and the interceptors around it, must not
// keep such a field (or the request) past the call, in a cache, a channel or a goroutine
// that outlives it. Copy what you keep (bytes.Clone). Returning the field in the response
// is fine: the buffer is reused only after the response was sent. Reading and modifying
// it during the call is fine.
//
// EXPERIMENTAL: a performance option (BENCHMARKS.md has its figures); it may change or go
// away in a later release.
func AliasRequests(on bool) ServerOption {
	return serverOption(func(o *serverOptions) { o.aliasRequests = on })
}

// A Lease holds the received buffer that a unary response decoded under LeaseReply refers
// to, until Release gives it back to nap's buffer pool. The zero value holds nothing. A
// Lease serves one call at a time; it is not safe for concurrent use.
type Lease struct {
	buf []byte // the received message the response refers to; nil: nothing held
}

// Release gives the held buffer back to nap's pool; a later message, on any connection,
// then overwrites it, so the response's large bytes fields must not be used afterwards
// (misuse corrupts data silently). Release on a Lease that holds nothing, or twice, does
// nothing; the Lease may then serve the next call. Not calling Release is safe: the
// garbage collector frees the buffer once the response is gone, as without LeaseReply.
func (l *Lease) Release() {
	if l.buf != nil {
		nap.PutBuffer(l.buf)
		l.buf = nil
	}
}

// Holds reports whether the Lease holds a buffer: whether the last call's response refers
// to received memory.
func (l *Lease) Holds() bool { return l.buf != nil }

// leaseOption is LeaseReply's CallOption; one pointer, so passing it allocates nothing.
type leaseOption struct{ l *Lease }

func (o leaseOption) apply(ci *callInfo) { ci.lease = o.l }

// LeaseReply makes a unary call decode its response's top-level singular bytes fields of
// at least AliasMinBytes without copying them, when they make up at least half of the
// response: the response then refers to the pooled buffer it arrived in, which l holds
// until l.Release() gives it back. A buffer given back serves the next message received,
// so a client that releases each response once it is done with it takes no new memory
// for large responses (BENCHMARKS.md, "Large fields decoded in place"). It applies to the
// proto codec and to uncompressed responses; otherwise, and for streams, the response is
// a copy and l holds nothing (Holds reports false). A buffer l still held from an earlier
// call is left to the garbage collector, not reused. A nil l is ignored.
//
// EXPERIMENTAL: a performance option; it may change or go away in a later release.
func LeaseReply(l *Lease) CallOption { return leaseOption{l} }

// unmarshalAlias decodes data into v with cdc; when alias is set and the codec implements
// codec.AliasUnmarshaler, bytes fields of at least AliasMinBytes may refer to data, and kept
// says whether v does.
func unmarshalAlias(cdc codec.Codec, data []byte, v any, alias bool) (kept bool, err error) {
	if alias {
		if au, ok := cdc.(codec.AliasUnmarshaler); ok {
			return au.UnmarshalAlias(data, v, AliasMinBytes)
		}
	}
	return false, cdc.Unmarshal(data, v)
}
