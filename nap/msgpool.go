package nap

import (
	"slices"
	"sync"
)

// Received messages come from a process-wide pool of buffers in size classes,
// and Stream.Release gives them back (README, "Message buffers"). The classes
// are 2^k and 1.5 x 2^k bytes from 256 B to 64 KiB, then eight per power of
// two (2^k x 1, 1.125, ... 1.875) up to 64 MiB, so that a buffer is at most
// 1.5 times a small message and 1.125 times a large one (what the buffer
// budgets count is the capacity); larger messages are allocated exactly and
// left to the garbage collector. Each class is a sync.Pool: what nobody
// reuses is freed by the garbage collector, so the pool holds no memory of
// its own for long.

// classSizes are the capacities of the classes, ascending.
var classSizes = func() []int {
	var c []int
	for k := 8; k < 16; k++ {
		c = append(c, 1<<k, 3<<(k-1))
	}
	for k := 16; k < 26; k++ {
		for j := 0; j < 8; j++ {
			c = append(c, (8+j)<<(k-3))
		}
	}
	return append(c, 1<<26)
}()

var (
	msgPools  = make([]sync.Pool, len(classSizes)) // of *[]byte with cap == classSizes[i]
	slicePool sync.Pool                            // empty *[]byte holders, so that Put does not allocate
	maxPooled = classSizes[len(classSizes)-1]
	minPooled = classSizes[0]
)

// classSize returns the capacity of class i.
func classSize(i int) int { return classSizes[i] }

// classFor returns the smallest class holding n bytes, -1 when n is larger
// than every class.
func classFor(n int) int {
	if n > maxPooled {
		return -1
	}
	i, _ := slices.BinarySearch(classSizes, n)
	return i
}

// classBelow returns the largest class whose size is at most c, -1 if none.
func classBelow(c int) int {
	i, found := slices.BinarySearch(classSizes, c)
	if !found {
		i--
	}
	return i
}

// getMessage returns a slice of n bytes from the pool (contents undefined),
// or new memory of exactly n bytes when n is beyond the largest class.
func getMessage(n int) []byte {
	i := classFor(n)
	if i < 0 {
		return make([]byte, n)
	}
	if p, _ := msgPools[i].Get().(*[]byte); p != nil {
		b := *p
		*p = nil
		slicePool.Put(p)
		return b[:n]
	}
	return make([]byte, n, classSize(i))
}

// putMessage gives b to the pool of the largest class it can hold. The
// caller must not use b afterwards.
func putMessage(b []byte) {
	i := classBelow(cap(b))
	if i < 0 {
		return
	}
	p, _ := slicePool.Get().(*[]byte)
	if p == nil {
		p = new([]byte)
	}
	*p = b[:0:classSize(i)]
	msgPools[i].Put(p)
}

// GetBuffer returns a slice of n bytes (contents undefined) from the buffer
// pool received messages come from (README, "Message buffers"). Give it back
// with PutBuffer (or Stream.Release) when done; not giving it back is
// harmless. For a sender that marshals a large message: the buffer then
// serves a later received message, and the other way round.
func GetBuffer(n int) []byte { return getMessage(n) }

// PutBuffer gives b to the buffer pool, like Stream.Release: b may come from
// GetBuffer, Recv or anywhere else. Misuse corrupts data silently: the caller
// must not use b (or a slice of it) afterwards, nor give it back twice.
// Buffers under 256 B are dropped.
func PutBuffer(b []byte) { putMessage(b) }
