package iip

import (
	"math/bits"
	"sync"
)

// Request buffers of servers with RecycleRequestData come from bufPools:
// bufPools[i] holds buffers of capacity 1<<(i+minBufShift). Larger data
// is not pooled.
const (
	minBufShift = 9  // 512 bytes
	maxBufShift = 20 // 1 MiB
)

var bufPools [maxBufShift - minBufShift + 1]sync.Pool

// getBuf returns a buffer of length n from the pools, or nil when n is
// too large to be pooled.
func getBuf(n int) *[]byte {
	if n > 1<<maxBufShift {
		return nil
	}
	i := max(bits.Len(uint(n-1)), minBufShift) - minBufShift
	if pb, _ := bufPools[i].Get().(*[]byte); pb != nil {
		*pb = (*pb)[:n]
		return pb
	}
	b := make([]byte, n, 1<<(i+minBufShift))
	return &b
}

// putBuf gives a buffer from getBuf back.
func putBuf(pb *[]byte) {
	i := bits.Len(uint(cap(*pb)-1)) - minBufShift
	*pb = (*pb)[:0]
	bufPools[i].Put(pb)
}
