package nap

import (
	"math/bits"
	"sync"
)

// Received messages come from a process-wide pool of buffers in size classes,
// and Stream.Release gives them back (README, "Message buffers"). The classes
// are 2^k and 1.5 x 2^k bytes from 256 B to 64 MiB, so a buffer is at most
// 1.5 times the message it holds; larger messages are allocated exactly and
// left to the garbage collector. Each class is a sync.Pool: what nobody
// reuses is freed by the garbage collector, so the pool holds no memory of
// its own for long.

const (
	minPoolShift = 8  // smallest class: 256 B
	maxPoolShift = 26 // largest class: 64 MiB
	numClasses   = 2 * (maxPoolShift - minPoolShift + 1)
)

var (
	msgPools   [numClasses]sync.Pool // of *[]byte with cap == classSize(i)
	slicePool  sync.Pool             // empty *[]byte holders, so that Put does not allocate
	maxPooled  = classSize(numClasses - 1)
	minPooled  = classSize(0)
	poolOffset = minPoolShift
)

// classSize returns the capacity of class i: 2^k for even i, 1.5 x 2^k for odd i.
func classSize(i int) int {
	k := poolOffset + i/2
	if i%2 == 0 {
		return 1 << k
	}
	return 3 << (k - 1)
}

// classFor returns the smallest class holding n bytes, -1 when n is larger
// than every class.
func classFor(n int) int {
	if n <= minPooled {
		return 0
	}
	if n > maxPooled {
		return -1
	}
	k := bits.Len(uint(n - 1)) // 2^(k-1) < n <= 2^k
	i := 2 * (k - poolOffset)  // class 2^k
	if n <= 3<<(k-2) {         // 1.5 x 2^(k-1) fits
		i--
	}
	return i
}

// classBelow returns the largest class whose size is at most c, -1 if none.
func classBelow(c int) int {
	if c < minPooled {
		return -1
	}
	i := classFor(c)
	if i < 0 {
		return numClasses - 1
	}
	if classSize(i) > c {
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
