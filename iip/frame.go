package iip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// frameHeader is the decoded fixed part of a frame. Path aliases the
// reader's path buffer and is valid until the next readHeader call.
type frameHeader struct {
	Status  frameStatus
	Path    []byte
	Channel uint32
	Length  uint32
}

// isRequest reports whether s is one of the four request statuses.
func (s frameStatus) isRequest() bool { return s <= statusRequestContinueLast }

// isResponse reports whether s is one of the four response statuses.
func (s frameStatus) isResponse() bool {
	return s >= statusResponseFirst && s <= statusResponseContinueEnd
}

// first reports whether s starts a message (request or response).
func (s frameStatus) first() bool { return s&^4 <= 1 && s != statusClose }

// String names the status for log lines and errors.
func (s frameStatus) String() string {
	switch s {
	case statusRequestFirst:
		return "request-first"
	case statusRequest:
		return "request"
	case statusRequestContinue:
		return "request-continue"
	case statusRequestContinueLast:
		return "request-continue-last"
	case statusResponseFirst:
		return "response-first"
	case statusResponse:
		return "response"
	case statusResponseContinue:
		return "response-continue"
	case statusResponseContinueEnd:
		return "response-continue-last"
	case statusClose:
		return "close"
	}
	return fmt.Sprintf("status(%d)", byte(s))
}

// frameReader decodes frames from a stream through its own read buffer.
// Every length is checked before anything is allocated, and no payload
// memory is allocated before its bytes arrive.
//
// Data of a mid-sized frame (see readPayload) is handed out as a slice of
// the read buffer itself, so that it is copied only once, by the kernel;
// the buffer is then "shared" and never written again where data was
// handed out: when it runs out of room a new one is allocated and the old
// one lives on as long as the data slices do.
type frameReader struct {
	r      io.Reader
	size   int
	buf    []byte // unread bytes are buf[rpos:wpos]
	rpos   int
	wpos   int
	shared bool  // part of buf was handed out
	err    error // read error, returned once the buffered bytes are used
	// pathBuf holds the path of the last header.
	pathBuf [MaxPathLen]byte
	// activity, when set, counts the bytes read (the client's keepalive
	// tells a connection that is answering from one that is not).
	activity *atomic.Int64
}

func newFrameReader(r io.Reader, size int) *frameReader {
	if size < MaxPathLen+64 {
		size = MaxPathLen + 64
	}
	return &frameReader{r: r, size: size, buf: make([]byte, size)}
}

func (fr *frameReader) buffered() int { return fr.wpos - fr.rpos }

// makeRoom arranges for at least need (<= fr.size) bytes from rpos to fit
// in buf, moving the unread bytes to the front or, when buf is shared, to
// a new buffer.
func (fr *frameReader) makeRoom(need int) {
	if len(fr.buf)-fr.rpos >= need && fr.wpos < len(fr.buf) {
		return
	}
	if fr.shared {
		nb := make([]byte, fr.size)
		fr.wpos = copy(nb, fr.buf[fr.rpos:fr.wpos])
		fr.buf, fr.rpos, fr.shared = nb, 0, false
		return
	}
	fr.wpos = copy(fr.buf, fr.buf[fr.rpos:fr.wpos])
	fr.rpos = 0
}

// fill reads at least one more byte into buf, which must have room.
func (fr *frameReader) fill() error {
	if err := fr.err; err != nil {
		fr.err = nil
		return err
	}
	for range 100 {
		n, err := fr.r.Read(fr.buf[fr.wpos:])
		if n < 0 || n > len(fr.buf)-fr.wpos {
			return errors.New("iip: reader returned an invalid count")
		}
		fr.wpos += n
		if n > 0 {
			if fr.activity != nil {
				fr.activity.Add(int64(n))
			}
			fr.err = err
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// ensure buffers at least n (<= fr.size) bytes.
func (fr *frameReader) ensure(n int) error {
	if fr.buffered() >= n {
		return nil
	}
	fr.makeRoom(n)
	for fr.buffered() < n {
		if err := fr.fill(); err != nil {
			return err
		}
	}
	return nil
}

// readHeader reads a frame up to (not including) its data. The returned
// error wraps ErrProtocol when the bytes are not a valid frame, or is the
// underlying read error (io.EOF on a clean end between frames).
func (fr *frameReader) readHeader() (frameHeader, error) {
	var h frameHeader
	if fr.rpos == fr.wpos && !fr.shared {
		fr.rpos, fr.wpos = 0, 0
	}
	if err := fr.ensure(1); err != nil {
		return h, err
	}
	st := fr.buf[fr.rpos]
	fr.rpos++
	h.Status = frameStatus(st)
	if h.Status > statusClose {
		return h, fmt.Errorf("%w: unknown frame status %d", ErrProtocol, st)
	}
	// Find the NUL within MaxPathLen+1 bytes.
	n := 0
	for {
		lim := fr.buf[fr.rpos:fr.wpos]
		if len(lim) > MaxPathLen+1 {
			lim = lim[:MaxPathLen+1]
		}
		if i := bytes.IndexByte(lim, 0); i >= 0 {
			n = copy(fr.pathBuf[:], lim[:i])
			fr.rpos += i + 1
			break
		}
		if len(lim) > MaxPathLen {
			return h, fmt.Errorf("%w: path has no NUL within %d bytes", ErrProtocol, MaxPathLen)
		}
		if err := fr.ensure(len(lim) + 1); err != nil {
			return h, unexpected(err)
		}
	}
	h.Path = fr.pathBuf[:n]
	if err := fr.ensure(8); err != nil {
		return h, unexpected(err)
	}
	fixed := fr.buf[fr.rpos : fr.rpos+8]
	fr.rpos += 8
	h.Channel = binary.BigEndian.Uint32(fixed[0:4])
	h.Length = binary.BigEndian.Uint32(fixed[4:8])
	if h.Length == 0 {
		return h, fmt.Errorf("%w: zero data length (status %s, channel %d)", ErrProtocol, h.Status, h.Channel)
	}
	if h.Length > MaxFrameData {
		return h, fmt.Errorf("%w: frame data length %d exceeds limit %d", ErrProtocol, h.Length, MaxFrameData)
	}
	if n == 0 && h.Status != statusClose {
		return h, fmt.Errorf("%w: empty path in %s frame on channel %d", ErrProtocol, h.Status, h.Channel)
	}
	return h, nil
}

// directReadMin is the least number of missing data bytes read straight
// into the destination rather than through the buffer (saving a copy);
// smaller remainders go through the buffer, so that the frames behind them
// arrive with the same read.
const directReadMin = 8 << 10

// readPayload reads n data bytes into a slice that belongs to the caller.
// Nothing is allocated for bytes that have not arrived: a peer that
// declares 16 MiB and sends nothing costs no more than its read buffer.
// Data of at least 1/16 and at most half of the buffer size is a slice of
// the read buffer (one copy, by the kernel, and a buffer allocation per
// few frames instead of one per frame); keeping it keeps that buffer
// alive, which costs at most 16 times its size. Smaller data is copied
// out once it is buffered (so that small kept data pins no buffer);
// larger data grows with what is read (see appendData).
func (fr *frameReader) readPayload(n int) ([]byte, error) {
	if n < fr.size/16 {
		if err := fr.ensure(n); err != nil {
			return nil, unexpected(err)
		}
		data := make([]byte, n)
		fr.rpos += copy(data, fr.buf[fr.rpos:fr.rpos+n])
		return data, nil
	}
	if n > fr.size/2 {
		return fr.appendData(nil, n, 0)
	}
	if err := fr.ensure(n); err != nil {
		return nil, unexpected(err)
	}
	data := fr.buf[fr.rpos : fr.rpos+n : fr.rpos+n]
	fr.rpos += n
	fr.shared = true
	return data, nil
}

// growFactor bounds the capacity appendData gives a payload: at most this
// many times the bytes it already holds.
const growFactor = 4

// appendData reads n data bytes and appends them to dst. dst grows only
// with bytes that have arrived: its capacity is at most growFactor times
// the bytes it holds (or what has just been read, when larger; a last
// growth straight to the full length may make it 5 times), so the
// memory a peer makes us hold is bounded by what it sent, whatever length
// it declared. Bytes are read straight into dst's spare room when it has
// 8 KiB or more (no copy through the read buffer); growing by a factor of
// 4 costs about a third of the payload in extra allocation and copying.
// On error the returned slice holds what was read.
//
// limit > 0 says that the message goes on after these n bytes (a frame
// that is not its last) and will not pass limit bytes: dst may then grow
// geometrically past them, up to limit, so that a message in many small
// frames is copied a few times, not once per frame. 0: the message ends
// with these bytes.
func (fr *frameReader) appendData(dst []byte, n int, limit int) ([]byte, error) {
	return fr.appendDataBudget(dst, n, limit, false, nil)
}

// appendDataExact is appendData for a message whose size is known: with
// exact, limit is that size and dst, when it must grow, grows to it in one
// step.
func (fr *frameReader) appendDataExact(dst []byte, n int, limit int, exact bool) ([]byte, error) {
	return fr.appendDataBudget(dst, n, limit, exact, nil)
}

// A message's announced size is trusted (its buffer allocated at once)
// when 1/sizeHintTrust of it, or sizeHintTrustMax bytes, have arrived.
const (
	sizeHintTrust    = 8
	sizeHintTrustMax = 1 << 20
)

// readSizeHint reads the size hint that starts the first frame of a
// message of several frames once "size-hint" holds, takes its bytes off
// h.Length and returns it: the message's data length (the hint apart), or
// 0 when the sender did not know it (a streamed response). A frame too
// short for the hint and one more byte, or a hint not larger than the
// frame's own data, is a protocol error.
func (fr *frameReader) readSizeHint(h *frameHeader) (int, error) {
	if h.Length <= sizeHintLen {
		return 0, fmt.Errorf("%w: %s frame of %d bytes on channel %d is too short for a size hint and data", ErrProtocol, h.Status, h.Length, h.Channel)
	}
	var b [sizeHintLen]byte
	if err := fr.readData(b[:]); err != nil {
		return 0, err
	}
	h.Length -= sizeHintLen
	want := int(binary.BigEndian.Uint32(b[:]))
	if want != 0 && want <= int(h.Length) {
		return 0, fmt.Errorf("%w: %s frame on channel %d announces a message of %d bytes and carries %d itself", ErrProtocol, h.Status, h.Channel, want, h.Length)
	}
	return want, nil
}

// errBudgetFull is returned by appendDataBudget when grow refused to let the
// payload grow.
var errBudgetFull = errors.New("iip: no room in the buffer budget")

// appendDataBudget is appendData that asks grow, when not nil, before each
// growth of dst by extra bytes of capacity; when grow returns false it
// stops with errBudgetFull (dst holds what was read), and its error is
// returned as is.
//
// exact says that limit is the message's announced size: dst then grows to
// it in one step, as the first growth, instead of geometrically.
func (fr *frameReader) appendDataBudget(dst []byte, n int, limit int, exact bool, grow func(extra int) (bool, error)) ([]byte, error) {
	want := len(dst) + n
	idle := 0
	for len(dst) < want {
		if m := min(fr.buffered(), want-len(dst)); m > 0 {
			if cap(dst)-len(dst) < m {
				var err error
				if dst, err = growData(dst, max(len(dst)+m, growFactor*len(dst)), want, limit, exact, grow); err != nil {
					return dst, err
				}
			}
			dst = append(dst, fr.buf[fr.rpos:fr.rpos+m]...)
			fr.rpos += m
			continue
		}
		if fr.err != nil || len(dst) < directReadMin {
			fr.makeRoom(1)
			if err := fr.fill(); err != nil {
				return dst, unexpected(err)
			}
			continue
		}
		if cap(dst)-len(dst) < directReadMin {
			var err error
			if dst, err = growData(dst, growFactor*len(dst), want, limit, exact, grow); err != nil {
				return dst, err
			}
		}
		room := min(cap(dst), want) - len(dst)
		m, err := fr.r.Read(dst[len(dst) : len(dst)+room])
		if m < 0 || m > room {
			return dst, errors.New("iip: reader returned an invalid count")
		}
		dst = dst[:len(dst)+m]
		if err != nil && len(dst) < want {
			return dst, unexpected(err)
		}
		if m == 0 && err == nil {
			if idle++; idle >= 100 {
				return dst, io.ErrNoProgress
			}
		}
	}
	return dst, nil
}

// growData returns dst with capacity c, or want when c is within a
// quarter of it or past it (sparing a last small growth that would copy
// everything, and allocating nothing past the message), once grow (when
// not nil) agreed to the extra capacity. With limit > 0 (the message goes
// on past want, up to limit bytes) c is kept past want, at most limit:
// capping it at each frame's end would copy the whole message again for
// every frame.
func growData(dst []byte, c, want, limit int, exact bool, grow func(extra int) (bool, error)) ([]byte, error) {
	switch {
	case exact && len(dst) >= min(limit/sizeHintTrust, sizeHintTrustMax):
		// The announced size, in one step, once an eighth of it (or 1 MiB)
		// has arrived: a peer makes us allocate at most 8 times what it
		// sent (1 MiB: 64 times), and a large message is copied once
		// more at most that much, not about its whole size.
		c = max(limit, want)
	case limit > 0:
		c = max(min(c, limit), want)
	case c >= want-want/4:
		c = want
	}
	if grow != nil {
		if ok, err := grow(c - cap(dst)); err != nil || !ok {
			if err == nil {
				err = errBudgetFull
			}
			return dst, err
		}
	}
	nb := make([]byte, len(dst), c)
	copy(nb, dst)
	return nb, nil
}

// readData reads exactly len(dst) data bytes into dst.
func (fr *frameReader) readData(dst []byte) error {
	for len(dst) > 0 {
		if fr.buffered() == 0 {
			if fr.err == nil && len(dst) >= directReadMin {
				_, err := io.ReadFull(fr.r, dst)
				return unexpected(err)
			}
			fr.makeRoom(1)
			if err := fr.fill(); err != nil {
				return unexpected(err)
			}
		}
		m := copy(dst, fr.buf[fr.rpos:fr.wpos])
		fr.rpos += m
		dst = dst[m:]
	}
	return nil
}

// discard skips n data bytes.
func (fr *frameReader) discard(n int) error {
	m := min(n, fr.buffered())
	fr.rpos += m
	n -= m
	if n == 0 {
		return nil
	}
	if err := fr.err; err != nil {
		fr.err = nil
		return unexpected(err)
	}
	_, err := io.CopyN(io.Discard, fr.r, int64(n))
	return unexpected(err)
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// appendHeader appends a frame header (everything but the data) to dst.
func appendHeader(dst []byte, st frameStatus, path string, ch uint32, n int) []byte {
	dst = append(dst, byte(st))
	dst = append(dst, path...)
	dst = append(dst, 0)
	dst = binary.BigEndian.AppendUint32(dst, ch)
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

// checkPath validates a path we are about to send.
func checkPath(path string) error {
	if path == "" {
		return fmt.Errorf("%w: empty path", ErrBadPath)
	}
	if len(path) > MaxPathLen {
		return fmt.Errorf("%w: path length %d exceeds limit %d", ErrBadPath, len(path), MaxPathLen)
	}
	if bytes.IndexByte([]byte(path), 0) >= 0 {
		return fmt.Errorf("%w: path contains a NUL byte", ErrBadPath)
	}
	return nil
}
