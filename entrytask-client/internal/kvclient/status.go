package kvclient

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

// Code classifies the outcome of a call: below 1000 it is a dora status code (package
// dora/codes, numbered like gRPC's), from 1000 one of etserver's application codes (kvpb.CODE
// in the service definition). The dora-backed Client maps both onto this type; write an RPC
// code as kvclient.Code(codes.Unavailable).
type Code uint32

// The application codes of kv.proto's CODE (the RPC codes are dora's, see package codes).
const (
	// CodeIncorrectUsernameOrPassword is kv.CODE INCORRECT_USERNAME_OR_PASSWORD: the
	// login failed, for an unknown user and a wrong password alike.
	CodeIncorrectUsernameOrPassword = Code(kvpb.CODE_INCORRECT_USERNAME_OR_PASSWORD)
	// CodeKeyNotExist is kv.CODE KEY_NOT_EXIST: a read of a key the user never wrote.
	CodeKeyNotExist = Code(kvpb.CODE_KEY_NOT_EXIST)
)

// firstAppCode is the smallest application code (kv.CODE); smaller codes are dora's.
const firstAppCode = 1000

// String returns the code's upper-case name: dora's name in upper snake case
// ("UNAUTHENTICATED", "DEADLINE_EXCEEDED"), kv.CODE's name ("KEY_NOT_EXIST"), or "CODE(n)"
// for a number neither knows.
func (c Code) String() string {
	if c >= firstAppCode {
		if s, ok := kvpb.CODE_name[int32(c)]; ok {
			return s
		}
	} else if rc := codes.Code(c); rc.Valid() {
		return upperSnake(rc.String())
	}
	return "CODE(" + strconv.FormatUint(uint64(c), 10) + ")"
}

// upperSnake turns a Go-style name ("DeadlineExceeded") into "DEADLINE_EXCEEDED".
func upperSnake(name string) string {
	var b strings.Builder
	for i, r := range name {
		if i > 0 && unicode.IsUpper(r) && unicode.IsLower(rune(name[i-1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
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
	ErrUnauthenticated             = &Error{Code: Code(codes.Unauthenticated)}
	ErrIncorrectUsernameOrPassword = &Error{Code: CodeIncorrectUsernameOrPassword}
	ErrKeyNotExist                 = &Error{Code: CodeKeyNotExist}
	ErrResourceExhausted           = &Error{Code: Code(codes.ResourceExhausted)}
	ErrInvalidArgument             = &Error{Code: Code(codes.InvalidArgument)}
	ErrUnavailable                 = &Error{Code: Code(codes.Unavailable)}
)

// CodeOf classifies any error: OK for nil, the Code of an *Error found with errors.As,
// DeadlineExceeded and Canceled for the context errors, Unknown otherwise.
func CodeOf(err error) Code {
	if err == nil {
		return Code(codes.OK)
	}
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, context.DeadlineExceeded):
		return Code(codes.DeadlineExceeded)
	case errors.Is(err, context.Canceled):
		return Code(codes.Canceled)
	default:
		return Code(codes.Unknown)
	}
}
