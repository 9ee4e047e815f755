package dora

import (
	"time"

	"github.com/seed857a6cbd/pocket/dora/metadata"
)

// CallOption configures one call (Invoke, NewStream or a generated client method). Options
// given to NewClient with WithDefaultCallOptions apply first, then the call's own.
type CallOption interface {
	apply(*callInfo)
}

// callInfo is the resolved configuration of one call.
type callInfo struct {
	timeout time.Duration // 0: only the context's deadline
	codec   string        // "" means codec.NameProto
	md      metadata.MD   // per-call metadata, merged over the context's
	header  *metadata.MD
	trailer *metadata.MD
	// waitForReady: wait for a connection instead of failing fast during backoff.
	waitForReady bool
	// hashKey: the key of lbclient.PickHash.
	hashKey string
	// compressor: UseCompressor's name, "" for none.
	compressor string
	// lease: LeaseReply's Lease, nil for none.
	lease *Lease
}

type callOptionFunc func(*callInfo)

func (f callOptionFunc) apply(ci *callInfo) { f(ci) }

// UseCompressor makes a unary call compress its request payload with the named compressor
// (Gzip, the only one; "" turns compression off, the default) when it is at least the
// client's compression threshold (WithCompressionThreshold), and tells the server that it
// accepts a response compressed the same way (the server's CompressionThreshold decides).
// Decompressed messages are bounded by the receiver's message size limit (nap's
// MaxMessageSize, 4 MiB by default): a larger one fails with ResourceExhausted. Streaming
// calls ignore it: their messages are never compressed. The server must be a dora server
// of this version or later (an older one answers InvalidArgument: it cannot decode the
// request); an unknown name fails the call with Internal before anything is sent. Use it for
// large, compressible messages (JSON, text, repeated fields): it costs CPU on both sides.
func UseCompressor(name string) CallOption {
	return callOptionFunc(func(ci *callInfo) { ci.compressor = name })
}

// Timeout bounds the call to d from when it starts, in addition to the context's deadline
// (the earlier wins). d <= 0 means no extra bound.
func Timeout(d time.Duration) CallOption {
	return callOptionFunc(func(ci *callInfo) { ci.timeout = d })
}

// Codec makes the call use the codec registered under name (see package codec) for the
// request and the response; the default is "proto". An unregistered name fails the call with
// codes.Internal before anything is sent; a server that lacks the codec answers Unimplemented.
func Codec(name string) CallOption {
	return callOptionFunc(func(ci *callInfo) { ci.codec = name })
}

// WithMetadata sends md with the call, over the context's outgoing metadata for the same keys.
func WithMetadata(md metadata.MD) CallOption {
	return callOptionFunc(func(ci *callInfo) { ci.md = md })
}

// Header stores the server's response header metadata into *md when the call completes (for
// a unary call: all user keys of the response meta).
func Header(md *metadata.MD) CallOption {
	return callOptionFunc(func(ci *callInfo) { ci.header = md })
}

// Trailer stores the server's trailer metadata into *md when the call completes (for a unary
// call the same keys as Header: one response carries both).
func Trailer(md *metadata.MD) CallOption {
	return callOptionFunc(func(ci *callInfo) { ci.trailer = md })
}

// WaitForReady makes a call that finds no usable connection to its picked server wait
// (until its context ends) for the next dial instead of failing at once with Unavailable
// while that server's client is in reconnect backoff (or, with several servers, moving to
// another one). Default: false (fail fast).
func WaitForReady(wait bool) CallOption {
	return callOptionFunc(func(ci *callInfo) { ci.waitForReady = wait })
}

// HashKey sets the call's key for a balanced client whose picker is lbclient.PickHash
// (WithPicker(lbclient.PickHash)): calls with the same key go to the same server while it
// is healthy, and adding or removing one of n servers moves about 1/n of the keys. Use a
// user or session ID, for example. It is ignored by other pickers and with a single
// server. Default: no key, which picks a random server.
func HashKey(key string) CallOption {
	return callOptionFunc(func(ci *callInfo) { ci.hashKey = key })
}
