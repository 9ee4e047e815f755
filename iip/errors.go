package iip

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Error codes carried in error responses, as existing IIP peers know them.
const (
	CodePacketContinue  = 100 // the peer cannot take a continued (multi-frame) message
	CodeNoResponse      = 101 // the handler returned no response
	CodeHandler         = 102 // the handler failed (returned an error or panicked)
	CodeTimeout         = 103 // the request timed out on the server
	CodeUnknown         = 104 // anything else
	CodeNoHandler       = 105 // no handler is registered for the path
	CodeChannelLimit    = 106 // the connection has as many channels as the server allows
	CodeServerConnLimit = 107 // the server has as many connections as it allows
	CodeClientConnLimit = 108 // the client has as many connections as it allows
)

// Error is an error response: a code from the Code* constants and a
// message. Clients return it (wrapped) for every error response; handlers
// may return one to choose the code. errors.Is(err, ErrNoHandler) and the
// other sentinel *Error values match on Code alone.
type Error struct {
	Code    int    `json:"code"`    // one of the Code* constants (100..108)
	Message string `json:"message"` // human-readable detail
}

// Error formats the error as "iip: error CODE (name): message".
func (e *Error) Error() string {
	return "iip: error " + strconv.Itoa(e.Code) + " (" + codeName(e.Code) + "): " + e.Message
}

// Is reports whether target is an *Error with the same Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinel errors for the protocol's error codes; compare with errors.Is.
var (
	ErrPacketContinue  = &Error{Code: CodePacketContinue, Message: "packet continue"}
	ErrNoResponse      = &Error{Code: CodeNoResponse, Message: "handler returned no response"}
	ErrHandler         = &Error{Code: CodeHandler, Message: "handler error"}
	ErrTimeout         = &Error{Code: CodeTimeout, Message: "request timeout"}
	ErrUnknown         = &Error{Code: CodeUnknown, Message: "unknown error"}
	ErrNoHandler       = &Error{Code: CodeNoHandler, Message: "no handler for path"}
	ErrChannelLimit    = &Error{Code: CodeChannelLimit, Message: "channel limit reached"}
	ErrServerConnLimit = &Error{Code: CodeServerConnLimit, Message: "server connection limit reached"}
	ErrClientConnLimit = &Error{Code: CodeClientConnLimit, Message: "client connection limit reached"}
)

// Local sentinel errors (never sent on the wire).
var (
	// ErrProtocol is wrapped by every error about bytes that are not valid IIP.
	ErrProtocol = errors.New("iip: protocol error")
	// ErrConnLost is wrapped by the error of every call pending on a
	// connection that closed or broke.
	ErrConnLost = errors.New("iip: connection lost")
	// ErrClosed is returned by calls on a closed Client, Conn or Channel.
	ErrClosed = errors.New("iip: closed")
	// ErrServerClosed is returned by Serve after Shutdown or Close.
	ErrServerClosed = errors.New("iip: server closed")
	// ErrBadPath is wrapped when a path cannot be sent (empty, too long, NUL).
	ErrBadPath = errors.New("iip: bad path")
	// ErrMessageTooLarge is wrapped when a message exceeds MaxMessageSize.
	ErrMessageTooLarge = errors.New("iip: message too large")
	// ErrInvalidConfig is wrapped by the errors of VerifyConfig and of
	// Dial, NewClient, NewLoadBalanceClient and NewServer for a Config
	// field or an option out of its documented range, or options that do
	// not fit together; the message names what to change. Nothing is
	// clamped.
	ErrInvalidConfig = errors.New("iip: invalid configuration")
	// ErrGoAway is wrapped by the error of a call that a server shutting
	// down gracefully did not read (it announced it with /sys/goaway), and
	// of calls on such a connection afterwards. The request was not
	// processed: Client and LoadBalanceClient resend it on another
	// connection.
	ErrGoAway = errors.New("iip: server is going away; request not processed")
)

func codeName(code int) string {
	switch code {
	case CodePacketContinue:
		return "packet continue"
	case CodeNoResponse:
		return "no response"
	case CodeHandler:
		return "handler error"
	case CodeTimeout:
		return "timeout"
	case CodeUnknown:
		return "unknown"
	case CodeNoHandler:
		return "no handler"
	case CodeChannelLimit:
		return "channel limit"
	case CodeServerConnLimit:
		return "server connection limit"
	case CodeClientConnLimit:
		return "client connection limit"
	}
	return "code " + strconv.Itoa(code)
}

// toWireError turns a handler's error into the *Error that goes on the wire.
func toWireError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeHandler, Message: err.Error()}
}

// deployedHandlerFail prefixes the message of a handler's error in the
// answer deployed servers send for it, {"code":-1,"message":"handler fail:..."}.
const deployedHandlerFail = "handler fail:"

// deployedError is the error a peer without the typed-errors capability
// gets, in the shape deployed IIP servers answer with (PROTOCOL.md,
// section 3), so that deployed clients see from this server what they see
// from theirs:
//
//   - no handler for the path (105) is {"code":102,"message":"handle error"};
//   - a handler's error (102, or any error that is not an *Error) is
//     {"code":-1,"message":"handler fail:<message>"};
//   - a panicking handler is code 101, as an empty answer is;
//   - every other code (103, 104, 106, 107) is sent as it is.
func deployedError(e *Error, panicked bool) *Error {
	switch {
	case panicked:
		return &Error{Code: CodeNoResponse, Message: e.Message}
	case e.Code == CodeNoHandler:
		return &Error{Code: CodeHandler, Message: deployedUnknownPath}
	case e.Code == CodeHandler:
		return &Error{Code: deployedHandlerCode, Message: deployedHandlerFail + e.Message}
	}
	return e
}

// deployedHandlerCode is the code deployed servers answer a handler's error with.
const deployedHandlerCode = -1

// marshalError renders {"code":N,"message":"..."}.
func marshalError(e *Error) []byte {
	b, err := json.Marshal(e)
	if err != nil { // cannot happen for a struct of int and string
		return []byte(`{"code":104,"message":"unknown"}`)
	}
	return b
}

// parseWireError decodes an error body sent under the typed-errors
// capability. A body that is not valid JSON still yields an error.
func parseWireError(b []byte) *Error {
	var e Error
	if err := json.Unmarshal(b, &e); err != nil || e.Code == 0 {
		return &Error{Code: CodeUnknown, Message: fmt.Sprintf("undecodable error body %q", truncate(b, 128))}
	}
	return &e
}

var (
	legacyErrPrefix    = []byte(`{"code":1`)
	legacyNegErrPrefix = []byte(`{"code":-`)
)

// deployedUnknownPath is the exact message of a deployed IIP server's
// answer to a path without handler, {"code":102,"message":"handle error"}
// (this server sends 105 for that); sniffLegacyError maps it to
// CodeNoHandler. Deployed servers answer a handler's error with code -1.
const deployedUnknownPath = "handle error"

// sniffLegacyError recognises a plain JSON error body from a peer without
// the typed-errors capability: a JSON object of at most 4 KiB with exactly
// the keys "code" and "message", the code 100..108 or negative. Anything
// else is data, including a JSON object with more keys or another code.
// Deployed servers' shapes are mapped to this package's codes, so that
// client and HTTP adapter treat them as they treat ours:
//
//   - {"code":102,"message":"handle error"} (deployed: no handler for the
//     path) becomes CodeNoHandler (105); any other 102 stays CodeHandler;
//   - a negative code ({"code":-1,"message":"handler fail:..."}: the
//     handler returned an error) becomes CodeHandler (102), the original
//     code kept in the message;
//   - 101 (deployed: empty response or panic) stays CodeNoResponse.
func sniffLegacyError(b []byte) *Error {
	if len(b) > 4096 || !bytes.HasPrefix(b, legacyErrPrefix) && !bytes.HasPrefix(b, legacyNegErrPrefix) {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil || len(m) != 2 {
		return nil
	}
	var e Error
	if json.Unmarshal(m["code"], &e.Code) != nil || json.Unmarshal(m["message"], &e.Message) != nil {
		return nil
	}
	switch {
	case e.Code < 0:
		e.Message = "code " + strconv.Itoa(e.Code) + ": " + e.Message
		e.Code = CodeHandler
	case e.Code == CodeHandler && e.Message == deployedUnknownPath:
		e.Code, e.Message = CodeNoHandler, "no handler for path (deployed server: code 102 handle error)"
	case e.Code < CodePacketContinue || e.Code > CodeClientConnLimit:
		return nil
	}
	return &e
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
