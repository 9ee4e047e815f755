package kvclient

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// Code classifies the outcome of a call. Codes 0–16 are the RPC status codes (numbered like
// gRPC's, which dora's status codes follow); codes from 1000 are etserver's application codes
// (kv.CODE in the service definition). The dora-backed Client maps both onto this type.
type Code int

// The status codes a Client reports.
const (
	CodeOK                 Code = 0
	CodeCanceled           Code = 1
	CodeUnknown            Code = 2
	CodeInvalidArgument    Code = 3
	CodeDeadlineExceeded   Code = 4
	CodeNotFound           Code = 5
	CodeAlreadyExists      Code = 6
	CodePermissionDenied   Code = 7
	CodeResourceExhausted  Code = 8
	CodeFailedPrecondition Code = 9
	CodeAborted            Code = 10
	CodeOutOfRange         Code = 11
	CodeUnimplemented      Code = 12
	CodeInternal           Code = 13
	CodeUnavailable        Code = 14
	CodeDataLoss           Code = 15
	CodeUnauthenticated    Code = 16

	// CodeIncorrectUsernameOrPassword is kv.CODE INCORRECT_USERNAME_OR_PASSWORD: the
	// login failed, for an unknown user and a wrong password alike.
	CodeIncorrectUsernameOrPassword Code = 1000
	// CodeKeyNotExist is kv.CODE KEY_NOT_EXIST: a read of a key the user never wrote.
	CodeKeyNotExist Code = 1001
)

var codeNames = map[Code]string{
	CodeOK:                          "OK",
	CodeCanceled:                    "CANCELED",
	CodeUnknown:                     "UNKNOWN",
	CodeInvalidArgument:             "INVALID_ARGUMENT",
	CodeDeadlineExceeded:            "DEADLINE_EXCEEDED",
	CodeNotFound:                    "NOT_FOUND",
	CodeAlreadyExists:               "ALREADY_EXISTS",
	CodePermissionDenied:            "PERMISSION_DENIED",
	CodeResourceExhausted:           "RESOURCE_EXHAUSTED",
	CodeFailedPrecondition:          "FAILED_PRECONDITION",
	CodeAborted:                     "ABORTED",
	CodeOutOfRange:                  "OUT_OF_RANGE",
	CodeUnimplemented:               "UNIMPLEMENTED",
	CodeInternal:                    "INTERNAL",
	CodeUnavailable:                 "UNAVAILABLE",
	CodeDataLoss:                    "DATA_LOSS",
	CodeUnauthenticated:             "UNAUTHENTICATED",
	CodeIncorrectUsernameOrPassword: "INCORRECT_USERNAME_OR_PASSWORD",
	CodeKeyNotExist:                 "KEY_NOT_EXIST",
}

// String returns the code's upper-case name ("UNAUTHENTICATED"), or "CODE(n)" for a number
// this package does not know.
func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return "CODE(" + strconv.Itoa(int(c)) + ")"
}

// Error is a failed call: the status code and the server's (or the transport's) message.
// errors.Is(err, target) holds for two *Error values with the same Code, so the sentinel
// values below can be used to test a returned error.
type Error struct {
	Code    Code
	Message string
}

// Error formats the error as "kvclient: CODE: message".
func (e *Error) Error() string {
	if e.Message == "" {
		return "kvclient: " + e.Code.String()
	}
	return "kvclient: " + e.Code.String() + ": " + e.Message
}

// Is reports whether target is an *Error with the same Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Sentinel errors for errors.Is; each matches any *Error with its code.
var (
	ErrUnauthenticated             = &Error{Code: CodeUnauthenticated}
	ErrIncorrectUsernameOrPassword = &Error{Code: CodeIncorrectUsernameOrPassword}
	ErrKeyNotExist                 = &Error{Code: CodeKeyNotExist}
	ErrResourceExhausted           = &Error{Code: CodeResourceExhausted}
	ErrInvalidArgument             = &Error{Code: CodeInvalidArgument}
	ErrUnavailable                 = &Error{Code: CodeUnavailable}
)

// CodeOf classifies any error: CodeOK for nil, the Code of an *Error found with errors.As,
// CodeDeadlineExceeded and CodeCanceled for the context errors, CodeUnknown otherwise.
func CodeOf(err error) Code {
	if err == nil {
		return CodeOK
	}
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, context.DeadlineExceeded):
		return CodeDeadlineExceeded
	case errors.Is(err, context.Canceled):
		return CodeCanceled
	default:
		return CodeUnknown
	}
}
