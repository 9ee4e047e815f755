package dora

import (
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/seed857a6cbd/pocket/nap"
)

// maxPooledBuf is the largest buffer kept in this pool; bigger ones go to nap's message
// buffer pool (size classes, nap.PutBuffer), where received messages come from.
const maxPooledBuf = 64 << 10

// pooledBufSize is the capacity of a new pooled buffer.
const pooledBufSize = 2048

// pooledBuf holds a pooled buffer's slice header and its first backing array in one
// object, so a pool miss costs one allocation, not two.
type pooledBuf struct {
	b   []byte
	arr [pooledBufSize]byte
}

var bufPool = sync.Pool{New: func() any {
	p := new(pooledBuf)
	p.b = p.arr[:0]
	return &p.b
}}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		// A large message's buffer (presize): it serves nap's next large message, and this
		// pool gets a small one back.
		nap.PutBuffer(*b)
		*b = make([]byte, 0, pooledBufSize)
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// presize makes room after b for m's encoding when it would not fit: a buffer of exactly
// the size needed from nap's pool, instead of the copies append makes while it doubles a
// small buffer. proto.Size caches m's size in m, so the encoding that follows at once can
// use it (marshal's cachedSize).
func presize(b []byte, m proto.Message) []byte {
	n := len(b) + proto.Size(m)
	if n <= cap(b) {
		return b
	}
	nb := nap.GetBuffer(n)[:len(b)]
	copy(nb, b)
	return nb
}

// appendPkgHead appends the envelope of a message whose payload of n bytes is sent
// after it as a separate slice (nap's SendV): appendPkg's output up to the payload's
// bytes, which appendPkg writes last.
func appendPkgHead(b []byte, h *outHead, n int) []byte {
	b = appendPkg(b, h, nil)
	if n > 0 {
		b = protowire.AppendTag(b, fieldPkgPayload, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(n))
	}
	return b
}

// appendPkgHeadSplit appends the envelope of a message whose payload is payload followed
// by tail (marshalSplit) and returns it with what is sent after it (nap's SendV): payload
// when tail is nil; otherwise payload is copied after the envelope (it is small: the
// message without its large field) and tail, the message's own memory, follows.
func appendPkgHeadSplit(b []byte, h *outHead, payload, tail []byte) (head, body []byte) {
	if tail == nil {
		return appendPkgHead(b, h, len(payload)), payload
	}
	b = appendPkgHead(b, h, len(payload)+len(tail))
	return append(b, payload...), tail
}
