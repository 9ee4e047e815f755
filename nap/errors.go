package nap

import (
	"errors"
	"fmt"
)

// ErrorCode is the 32-bit error code carried by RST_STREAM and GOAWAY frames.
// Unknown codes received from a peer are kept as they are and print as
// "CODE_0x...".
type ErrorCode uint32

// Error codes (see PROTOCOL.md for when each is sent).
const (
	// CodeNoError: graceful end (GOAWAY on shutdown).
	CodeNoError ErrorCode = 0x0
	// CodeProtocol: the peer broke the protocol.
	CodeProtocol ErrorCode = 0x1
	// CodeInternal: an implementation fault on the sender.
	CodeInternal ErrorCode = 0x2
	// CodeFlowControl: the peer sent more than its window allowed or overflowed a window.
	CodeFlowControl ErrorCode = 0x3
	// CodeCancel: the stream is no longer wanted (Stream.Close, context cancelled).
	CodeCancel ErrorCode = 0x4
	// CodeRefusedStream: the stream was not processed (sent after GOAWAY); retryable.
	CodeRefusedStream ErrorCode = 0x5
	// CodeMessageTooLarge: a message exceeded the receiver's MaxMessageSize.
	CodeMessageTooLarge ErrorCode = 0x6
	// CodeStreamLimit: the stream exceeded the receiver's MaxConcurrentStreams; retryable.
	CodeStreamLimit ErrorCode = 0x7
	// CodeKeepAliveTimeout: GOAWAY code when the peer stopped answering PINGs.
	CodeKeepAliveTimeout ErrorCode = 0x8
	// CodeHandshakeTimeout: GOAWAY code when the peer did not complete the handshake in time.
	CodeHandshakeTimeout ErrorCode = 0x9
	// CodeApplication: an application-defined failure; the application layer carries details.
	CodeApplication ErrorCode = 0xa
	// CodeEnhanceYourCalm: GOAWAY code when the peer abused the connection
	// (PING flood, rapid stream resets, control frames queued without
	// reading); like HTTP/2's ENHANCE_YOUR_CALM. Not retryable.
	CodeEnhanceYourCalm ErrorCode = 0xb
	// CodeWriteTimeout: RST_STREAM code when a Send made no progress for
	// WriteTimeout (the peer gave no credit or did not read); GOAWAY code when
	// a socket write made no progress for WriteTimeout.
	CodeWriteTimeout ErrorCode = 0xc
	// CodeResourceExhausted: RST_STREAM code when the receiver dropped the
	// stream to stay within its buffer budget (MaxConnBuffered,
	// MaxServerBuffered). Not retryable as such: earlier messages of the
	// stream may have reached the application.
	CodeResourceExhausted ErrorCode = 0xd
)

var codeNames = [...]string{
	CodeNoError:           "NO_ERROR",
	CodeProtocol:          "PROTOCOL_ERROR",
	CodeInternal:          "INTERNAL_ERROR",
	CodeFlowControl:       "FLOW_CONTROL_ERROR",
	CodeCancel:            "CANCEL",
	CodeRefusedStream:     "REFUSED_STREAM",
	CodeMessageTooLarge:   "MESSAGE_TOO_LARGE",
	CodeStreamLimit:       "STREAM_LIMIT",
	CodeKeepAliveTimeout:  "KEEPALIVE_TIMEOUT",
	CodeHandshakeTimeout:  "HANDSHAKE_TIMEOUT",
	CodeApplication:       "APPLICATION_ERROR",
	CodeEnhanceYourCalm:   "ENHANCE_YOUR_CALM",
	CodeWriteTimeout:      "WRITE_TIMEOUT",
	CodeResourceExhausted: "RESOURCE_EXHAUSTED",
}

// String returns the code's name, e.g. "CANCEL".
func (c ErrorCode) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("CODE_0x%x", uint32(c))
}

// Sentinel errors; test with errors.Is.
var (
	// ErrSessionClosed: the session is closed; every error caused by a dead
	// session matches it, whatever the cause (which is wrapped as well).
	ErrSessionClosed = errors.New("nap: session closed")
	// ErrGoAway: the session is going away (either side sent GOAWAY, or stream
	// IDs ran out): new streams are not opened, streams the peer never
	// accepted fail with it; retryable.
	ErrGoAway = errors.New("nap: session going away")
	// ErrStreamRefused: the peer's concurrent stream limit was reached or the
	// peer refused the stream; retryable.
	ErrStreamRefused = errors.New("nap: stream refused")
	// ErrMessageTooLarge: a message exceeded MaxMessageSize (ours or the peer's).
	ErrMessageTooLarge = errors.New("nap: message too large")
	// ErrKeepAliveTimeout: the peer stopped answering keepalive PINGs.
	ErrKeepAliveTimeout = errors.New("nap: keepalive timeout")
	// ErrHandshakeTimeout: the peer did not complete the handshake within HandshakeTimeout.
	ErrHandshakeTimeout = errors.New("nap: handshake timeout")
	// ErrProtocol: the peer sent something the protocol forbids.
	ErrProtocol = errors.New("nap: protocol error")
	// ErrStreamClosed: Send after CloseSend/SendAndClose, or use after Close.
	ErrStreamClosed = errors.New("nap: stream closed")
	// ErrWriteTimeout: a Send made no progress (no credit from the peer, no
	// socket progress) for WriteTimeout; the stream was reset with
	// CodeWriteTimeout. A session closed because a socket write made no
	// progress for WriteTimeout matches it too.
	ErrWriteTimeout = errors.New("nap: write timeout")
	// ErrEnhanceYourCalm: the session was closed because the peer abused it
	// (see CodeEnhanceYourCalm), or the peer closed it for that reason.
	ErrEnhanceYourCalm = errors.New("nap: peer abuse (enhance your calm)")
)

// StreamError reports that a stream was reset, by us (Remote false) or by
// the peer (Remote true). errors.Is matches ErrStreamRefused for
// CodeRefusedStream and CodeStreamLimit, ErrMessageTooLarge for
// CodeMessageTooLarge and ErrProtocol for CodeProtocol and CodeFlowControl.
type StreamError struct {
	// StreamID is the reset stream (0 for a stream reset before its first frame).
	StreamID uint32
	// Code is the RST_STREAM error code.
	Code ErrorCode
	// Remote is true when the peer reset the stream.
	Remote bool
	// Reason is a human-readable detail for resets decided locally; may be empty.
	Reason string
}

// Error returns e.g. "nap: stream 3 reset by peer: CANCEL".
func (e *StreamError) Error() string {
	who := "locally"
	if e.Remote {
		who = "by peer"
	}
	if e.Reason != "" {
		return fmt.Sprintf("nap: stream %d reset %s: %s: %s", e.StreamID, who, e.Code, e.Reason)
	}
	return fmt.Sprintf("nap: stream %d reset %s: %s", e.StreamID, who, e.Code)
}

// Is lets errors.Is match the sentinel that corresponds to the code.
func (e *StreamError) Is(target error) bool {
	switch target {
	case ErrStreamRefused:
		return e.Code == CodeRefusedStream || e.Code == CodeStreamLimit
	case ErrMessageTooLarge:
		return e.Code == CodeMessageTooLarge
	case ErrProtocol:
		return e.Code == CodeProtocol || e.Code == CodeFlowControl
	case ErrWriteTimeout:
		return e.Code == CodeWriteTimeout
	}
	return false
}

// connError is a connection-level failure with the code sent in GOAWAY.
type connError struct {
	code ErrorCode
	msg  string // full message, starts with "nap: "
}

func (e *connError) Error() string { return e.msg }

func (e *connError) Is(target error) bool {
	switch target {
	case ErrProtocol:
		return e.code == CodeProtocol || e.code == CodeFlowControl
	case ErrKeepAliveTimeout:
		return e.code == CodeKeepAliveTimeout
	case ErrHandshakeTimeout:
		return e.code == CodeHandshakeTimeout
	case ErrWriteTimeout:
		return e.code == CodeWriteTimeout
	case ErrEnhanceYourCalm:
		return e.code == CodeEnhanceYourCalm
	}
	return false
}

// calmErrorf is a connection error for an abusive peer (CodeEnhanceYourCalm).
func calmErrorf(format string, args ...any) error {
	return &connError{code: CodeEnhanceYourCalm, msg: "nap: " + fmt.Sprintf(format, args...)}
}

func protocolErrorf(format string, args ...any) error {
	return &connError{code: CodeProtocol, msg: "nap: " + fmt.Sprintf(format, args...)}
}

func flowControlErrorf(format string, args ...any) error {
	return &connError{code: CodeFlowControl, msg: "nap: " + fmt.Sprintf(format, args...)}
}

// sessionError is what a dead session reports: it matches ErrSessionClosed
// and unwraps to the cause.
type sessionError struct{ cause error }

func (e *sessionError) Error() string {
	if e.cause == nil || e.cause == ErrSessionClosed {
		return ErrSessionClosed.Error()
	}
	return "nap: session closed: " + trimPrefix(e.cause.Error())
}

func (e *sessionError) Unwrap() error { return e.cause }

func (e *sessionError) Is(target error) bool { return target == ErrSessionClosed }

func trimPrefix(s string) string {
	if len(s) > 5 && s[:5] == "nap: " {
		return s[5:]
	}
	return s
}

// goAwayError reports a GOAWAY received from the peer.
type goAwayError struct {
	code   ErrorCode
	debug  string
	lastID uint32
}

func (e *goAwayError) Error() string {
	s := fmt.Sprintf("nap: peer sent GOAWAY (last stream %d, %s)", e.lastID, e.code)
	if e.debug != "" {
		s += ": " + e.debug
	}
	return s
}

func (e *goAwayError) Is(target error) bool {
	// Deliberately not ErrGoAway: streams the peer accepted before going
	// away may have reached its application, so they are not retryable.
	return (target == ErrProtocol && (e.code == CodeProtocol || e.code == CodeFlowControl)) ||
		(target == ErrEnhanceYourCalm && e.code == CodeEnhanceYourCalm)
}

// IsRetryable reports whether err says the call never reached the peer's
// application, so it can safely be retried on another stream or connection:
// GOAWAY (for streams the peer did not accept, or OpenStream on a session
// going away), a refused stream, the peer's stream limit, and OpenStream on
// a closed session. Errors of a call in progress when its session died are
// not retryable: the peer may have acted on it.
func IsRetryable(err error) bool {
	return errors.Is(err, ErrGoAway) || errors.Is(err, ErrStreamRefused)
}

// notOpenedError is OpenStream's error on a closed session: the call never
// left this process, so it matches ErrStreamRefused (retryable elsewhere)
// as well as the session's error.
type notOpenedError struct{ cause error }

func (e *notOpenedError) Error() string {
	return "nap: stream not opened: " + trimPrefix(e.cause.Error())
}

func (e *notOpenedError) Unwrap() error { return e.cause }

func (e *notOpenedError) Is(target error) bool { return target == ErrStreamRefused }
