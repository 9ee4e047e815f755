package dora

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/seed857a6cbd/pocket/nap"
)

// Compression (PROTOCOL.md §11): unary request and response payloads, gzip, negotiated per call.
const (
	// MetaEncoding names the compression of the Pkg's payload ("gzip"); absent: plain.
	MetaEncoding = "dora-encoding"
	// MetaAcceptEncoding, in a request, lists the encodings the client accepts for the
	// response, comma-separated ("gzip").
	MetaAcceptEncoding = "dora-accept-encoding"
	// Gzip is the name of gzip compression (compress/gzip, default level), the one
	// compressor dora has.
	Gzip = "gzip"
	// DefaultCompressionThreshold is the payload size, in bytes, below which a message is
	// sent plain even when its call uses compression: gzip's header and trailer (18 bytes)
	// and its CPU cost are not worth it for small messages.
	DefaultCompressionThreshold = 1024
)

// ErrDecompressedTooLarge is wrapped by the error of a compressed message whose
// decompressed size exceeds the receiver's message size limit.
var ErrDecompressedTooLarge = errors.New("dora: decompressed message exceeds the message size limit")

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// gzipAppend appends the gzip compression of src to dst.
func gzipAppend(dst, src []byte) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(buf)
	_, err := zw.Write(src)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	zw.Reset(nil)
	gzipWriters.Put(zw)
	return buf.Bytes(), err
}

// gunzip decompresses src, refusing (ErrDecompressedTooLarge) more than limit bytes of
// output: it never holds more than limit+1 decompressed bytes (plus the slice's growth
// slack, at most as much again), whatever src claims.
func gunzip(src []byte, limit int) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("dora: gzip payload: %w", err)
	}
	out := make([]byte, 0, min(max(2*len(src), 512), limit+1))
	for {
		if len(out) == cap(out) {
			if len(out) > limit {
				return nil, fmt.Errorf("%w (%d bytes)", ErrDecompressedTooLarge, limit)
			}
			out = append(out, 0)[:len(out)] // grow
			if cap(out) > limit+1 {
				out = out[: len(out) : limit+1]
			}
		}
		n, err := zr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if len(out) > limit {
			return nil, fmt.Errorf("%w (%d bytes)", ErrDecompressedTooLarge, limit)
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("dora: gzip payload: %w", err)
		}
	}
}

// acceptsGzip reports whether an accept-encoding value lists gzip.
func acceptsGzip(v string) bool {
	for e := range strings.SplitSeq(v, ",") {
		if strings.TrimSpace(e) == Gzip {
			return true
		}
	}
	return false
}

// msgLimit is the message size limit of a nap configuration.
func msgLimit(c nap.Config) int {
	if c.MaxMessageSize > 0 {
		return c.MaxMessageSize
	}
	return nap.DefaultMaxMessageSize
}
