package iip

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// frameHeader is the decoded fixed part of a frame. Path aliases the
// reader's path buffer and is valid until the next readHeader call.
type frameHeader struct {
	Status  Status
	Path    []byte
	Channel uint32
	Length  uint32
}

// isRequest reports whether s is one of the four request statuses.
func (s Status) isRequest() bool { return s <= StatusRequestContinueLast }

// isResponse reports whether s is one of the four response statuses.
func (s Status) isResponse() bool { return s >= StatusResponseFirst && s <= StatusResponseContinueEnd }

// first reports whether s starts a message (request or response).
func (s Status) first() bool { return s&^4 <= 1 && s != StatusClose }

// String names the status for log lines and errors.
func (s Status) String() string {
	switch s {
	case StatusRequestFirst:
		return "request-first"
	case StatusRequest:
		return "request"
	case StatusRequestContinue:
		return "request-continue"
	case StatusRequestContinueLast:
		return "request-continue-last"
	case StatusResponseFirst:
		return "response-first"
	case StatusResponse:
		return "response"
	case StatusResponseContinue:
		return "response-continue"
	case StatusResponseContinueEnd:
		return "response-continue-last"
	case StatusClose:
		return "close"
	}
	return fmt.Sprintf("status(%d)", byte(s))
}

// frameReader decodes frames from a buffered stream. Every length is
// checked before anything is allocated.
type frameReader struct {
	r       io.Reader
	br      *bufio.Reader
	pathBuf [MaxPathLen]byte
	fixed   [8]byte
}

func newFrameReader(r io.Reader, size int) *frameReader {
	if size < MaxPathLen+64 {
		size = MaxPathLen + 64
	}
	return &frameReader{r: r, br: bufio.NewReaderSize(r, size)}
}

// readHeader reads a frame up to (not including) its data. The returned
// error wraps ErrProtocol when the bytes are not a valid frame, or is the
// underlying read error (io.EOF on a clean end between frames).
func (fr *frameReader) readHeader() (frameHeader, error) {
	var h frameHeader
	st, err := fr.br.ReadByte()
	if err != nil {
		return h, err
	}
	h.Status = Status(st)
	if h.Status > StatusClose {
		return h, fmt.Errorf("%w: unknown frame status %d", ErrProtocol, st)
	}
	// Find the NUL within MaxPathLen+1 bytes without consuming more than
	// the buffer allows.
	n := 0
	for {
		buf, _ := fr.br.Peek(fr.br.Buffered())
		lim := buf
		if len(lim) > MaxPathLen+1 {
			lim = lim[:MaxPathLen+1]
		}
		if i := bytes.IndexByte(lim, 0); i >= 0 {
			n = copy(fr.pathBuf[:], lim[:i])
			_, _ = fr.br.Discard(i + 1)
			break
		}
		if len(buf) > MaxPathLen {
			return h, fmt.Errorf("%w: path has no NUL within %d bytes", ErrProtocol, MaxPathLen)
		}
		if _, err := fr.br.Peek(len(buf) + 1); err != nil {
			return h, unexpected(err)
		}
	}
	h.Path = fr.pathBuf[:n]
	if _, err := io.ReadFull(fr.br, fr.fixed[:]); err != nil {
		return h, unexpected(err)
	}
	h.Channel = binary.BigEndian.Uint32(fr.fixed[0:4])
	h.Length = binary.BigEndian.Uint32(fr.fixed[4:8])
	if h.Length == 0 {
		return h, fmt.Errorf("%w: zero data length (status %s, channel %d)", ErrProtocol, h.Status, h.Channel)
	}
	if h.Length > MaxFrameData {
		return h, fmt.Errorf("%w: frame data length %d exceeds limit %d", ErrProtocol, h.Length, MaxFrameData)
	}
	if n == 0 && h.Status != StatusClose {
		return h, fmt.Errorf("%w: empty path in %s frame on channel %d", ErrProtocol, h.Status, h.Channel)
	}
	return h, nil
}

// directReadMin is the least number of missing data bytes read straight
// into the destination rather than through the buffer (saving a copy);
// smaller remainders go through the buffer, so that the frames behind them
// arrive with the same read.
const directReadMin = 8 << 10

// readData reads exactly len(dst) data bytes.
func (fr *frameReader) readData(dst []byte) error {
	n := fr.br.Buffered()
	if len(dst)-n < directReadMin {
		_, err := io.ReadFull(fr.br, dst)
		return unexpected(err)
	}
	if n > 0 {
		b, _ := fr.br.Peek(n)
		copy(dst, b)
		_, _ = fr.br.Discard(n)
	}
	_, err := io.ReadFull(fr.r, dst[n:])
	return unexpected(err)
}

// discard skips n data bytes.
func (fr *frameReader) discard(n int) error {
	_, err := fr.br.Discard(n)
	return unexpected(err)
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// appendHeader appends a frame header (everything but the data) to dst.
func appendHeader(dst []byte, st Status, path string, ch uint32, n int) []byte {
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
