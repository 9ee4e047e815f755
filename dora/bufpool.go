package dora

import "sync"

// maxPooledBuf is the largest buffer returned to the pool; bigger ones are left to the GC so
// one huge message does not pin memory.
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
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}
