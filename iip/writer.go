package iip

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"math"
	"net"
	"sync/atomic"
	"time"
)

// copyLimit is the largest chunk copied into the header buffer so that a
// frame goes out in one write; larger chunks go out with the header in one
// vectored write, without a copy.
const copyLimit = 4 << 10

// connWriter serialises frame writes on one connection. The lock is a
// channel so that a waiting writer can give up when its context ends. A
// write error is sticky: the connection is closed through fail and no
// later frame is written, so a half-written message can never be followed
// by another one on the same stream.
type connWriter struct {
	c    net.Conn
	lock chan struct{}
	buf  []byte
	iov  [2][]byte   // header and chunk of a vectored write
	nb   net.Buffers // reused so that a vectored write does not allocate
	err  error
	fail func(error)
	// timeout, when positive, bounds the write of each frame whose
	// context has no deadline (the server's Timeouts.Write).
	timeout time.Duration
	// frameSize is the largest data of one frame: MaxFrameData, or the
	// size negotiated with the "frame-size" capability. Messages are split
	// into frames of at most this size and the lock is released between
	// frames, so that other messages interleave.
	frameSize atomic.Int64
	// moved is when the last frame was written whole (Unix ns).
	moved atomic.Int64
	// win, once "window" holds, is the credit for flow-controlled frames
	// (those of messages of several frames), taken before the lock.
	win atomic.Pointer[sendWindow]
}

// takeCredit waits for n bytes of the peer's window for a flow-controlled
// frame, when "window" holds. A wait that fails half way through a message
// (midMessage) closes the connection: the message cannot be abandoned.
func (w *connWriter) takeCredit(ctx context.Context, n int, midMessage bool) error {
	win := w.win.Load()
	if win == nil {
		return nil
	}
	err := win.take(ctx, int64(n), w.timeout)
	if err != nil && midMessage {
		w.abandon(err)
	}
	return err
}

// abandon fails the connection after part of a message went out and the
// rest cannot follow.
func (w *connWriter) abandon(err error) {
	_ = w.acquire(context.Background())
	if w.err == nil {
		w.err = err
	}
	w.release()
	w.fail(err)
}

// movedWithin reports whether a frame was written whole within d: the
// peer is reading.
func (w *connWriter) movedWithin(d time.Duration) bool {
	return time.Now().UnixNano()-w.moved.Load() < int64(d)
}

func newConnWriter(c net.Conn, fail func(error)) *connWriter {
	w := &connWriter{c: c, lock: make(chan struct{}, 1), buf: make([]byte, 0, 4096), fail: fail}
	w.frameSize.Store(MaxFrameData)
	return w
}

// acquire takes the write lock, or returns ctx's error.
func (w *connWriter) acquire(ctx context.Context) error {
	select {
	case w.lock <- struct{}{}:
		return nil
	default:
	}
	select {
	case w.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *connWriter) release() { <-w.lock }

// writeMessage sends data as one message of the given base status
// (statusRequestFirst or statusResponseFirst) on channel ch. marker >= 0 is
// prepended to the data (typed-errors capability). Empty data without a
// marker is sent as "{}" because a zero data length is illegal.
//
// hint (the "size-hint" capability) makes the first frame of a message of
// several frames start with the message's total data length, 4 bytes big
// endian, so that the receiver allocates its buffer once.
//
// written reports whether any byte of the message reached the connection;
// when it is false and err is not nil, nothing was sent and the stream is
// intact (the caller's context ended while waiting for the lock).
func (w *connWriter) writeMessage(ctx context.Context, base frameStatus, path string, ch uint32, marker int, hint bool, data []byte) (written bool, err error) {
	total := len(data)
	if marker >= 0 {
		total++
	} else if total == 0 {
		data = []byte(emptyData)
		total = len(data)
	}
	fs := int(w.frameSize.Load())
	if total <= fs {
		return w.writeFrame(ctx, base+1, path, ch, marker, -1, data, false)
	}
	announce := int64(-1)
	if hint {
		announce = sizeHintValue(total)
	}
	// Multi-frame message: first frame, continuations, last continuation.
	first := true
	for len(data) > 0 || first {
		n := fs
		if first && marker >= 0 {
			n--
		}
		if first && announce >= 0 {
			n -= sizeHintLen
		}
		if n > len(data) {
			n = len(data)
		}
		var st frameStatus
		switch {
		case first:
			st = base
		case n == len(data):
			st = base + 3
		default:
			st = base + 2
		}
		m, a := -1, int64(-1)
		fl := n // the frame's data length
		if first {
			m, a = marker, announce
			if m >= 0 {
				fl++
			}
			if a >= 0 {
				fl += sizeHintLen
			}
		}
		if err := w.takeCredit(ctx, fl, written); err != nil {
			return written, err
		}
		w2, err := w.writeFrame(ctx, st, path, ch, m, a, data[:n], written)
		written = written || w2
		if err != nil {
			return written, err
		}
		data = data[n:]
		first = false
	}
	return written, nil
}

// sizeHintValue is what the first frame of a message of total data bytes
// announces: total, or 0 (unknown) when it does not fit the 4 bytes.
func sizeHintValue(total int) int64 {
	if total > math.MaxUint32 {
		return 0
	}
	return int64(total)
}

// writeFrame writes one frame under the lock. hint >= 0 is written before
// the marker as the 4-byte size hint of the message this frame starts. Once part of a message is
// out (midMessage), the lock is taken without regard to ctx, because
// abandoning a message half way would corrupt the stream; ctx's deadline
// still bounds the write, and a write that times out half way closes the
// connection.
func (w *connWriter) writeFrame(ctx context.Context, st frameStatus, path string, ch uint32, marker int, hint int64, chunk []byte, midMessage bool) (bool, error) {
	lockCtx := ctx
	if midMessage {
		lockCtx = context.Background()
	} else if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := w.acquire(lockCtx); err != nil {
		return false, err
	}
	defer w.release()
	if w.err != nil {
		return false, w.err
	}
	n := len(chunk)
	if marker >= 0 {
		n++
	}
	if hint >= 0 {
		n += sizeHintLen
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = w.c.SetWriteDeadline(dl)
		defer w.c.SetWriteDeadline(time.Time{})
	} else if w.timeout > 0 {
		// The next frame sets its own deadline: no reset needed.
		_ = w.c.SetWriteDeadline(time.Now().Add(w.timeout))
	}
	b := appendHeader(w.buf[:0], st, path, ch, n)
	if hint >= 0 {
		b = binary.BigEndian.AppendUint32(b, uint32(hint))
	}
	if marker >= 0 {
		b = append(b, byte(marker))
	}
	var err error
	var sent int
	if len(chunk) <= copyLimit {
		b = append(b, chunk...)
		sent, err = w.c.Write(b)
	} else {
		// One writev, no copy of the chunk.
		w.iov[0], w.iov[1] = b, chunk
		w.nb = w.iov[:]
		var m int64
		m, err = w.nb.WriteTo(w.c)
		sent = int(m)
		w.iov[0], w.iov[1], w.nb = nil, nil, nil
	}
	if cap(b) <= 16*copyLimit {
		w.buf = b[:0]
	}
	if err != nil {
		if sent == 0 && !midMessage {
			if w.intactAfter(err) {
				// Nothing of this message went out: the stream is intact.
				return false, err
			}
			if errors.Is(err, net.ErrClosed) {
				// The connection was already closed: nothing went out.
				w.err = err
				w.fail(err)
				return false, err
			}
		}
		w.err = err
		w.fail(err)
		return true, err
	}
	w.moved.Store(time.Now().UnixNano())
	return true, nil
}

// intactAfter reports whether a write that failed with err and wrote
// nothing leaves the connection usable: only a timeout on a plain TCP
// connection does (a TLS connection is broken for good by any write error).
func (w *connWriter) intactAfter(err error) bool {
	if _, isTLS := w.c.(*tls.Conn); isTLS {
		return false
	}
	return isTimeout(err)
}
