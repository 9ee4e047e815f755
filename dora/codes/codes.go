// Package codes defines the status codes of dora calls: the canonical list users know from
// gRPC, their names, the HTTP status each maps to, and the translation to and from the code
// numbering of legacy (pre-dora) peers.
package codes

import (
	"fmt"
	"net/http"
	"strconv"
)

// Code is the status code of a call. The values are the gRPC codes, so a code travels with the
// same number in dora's `dora-status` meta key as in gRPC's grpc-status.
type Code uint32

// The canonical codes, with the values gRPC uses.
const (
	// OK means the call succeeded.
	OK Code = 0
	// Canceled means the caller cancelled the call.
	Canceled Code = 1
	// Unknown is an error with no better code, for example an error of an unknown kind
	// returned by a handler.
	Unknown Code = 2
	// InvalidArgument means the request is malformed regardless of the server's state.
	InvalidArgument Code = 3
	// DeadlineExceeded means the deadline expired before the call completed.
	DeadlineExceeded Code = 4
	// NotFound means a requested entity does not exist.
	NotFound Code = 5
	// AlreadyExists means an entity the call tried to create exists already.
	AlreadyExists Code = 6
	// PermissionDenied means the caller is known but may not do this.
	PermissionDenied Code = 7
	// ResourceExhausted means a quota, a limit or the server's capacity was reached.
	ResourceExhausted Code = 8
	// FailedPrecondition means the system is not in a state the call requires.
	FailedPrecondition Code = 9
	// Aborted means the call was aborted, typically by a concurrency conflict.
	Aborted Code = 10
	// OutOfRange means an argument was past the valid range.
	OutOfRange Code = 11
	// Unimplemented means the method (or service, or codec) is not served.
	Unimplemented Code = 12
	// Internal means an invariant of the server broke (a handler panic, for example).
	Internal Code = 13
	// Unavailable means the service cannot be reached right now; the call may be retried.
	Unavailable Code = 14
	// DataLoss means unrecoverable data loss or corruption.
	DataLoss Code = 15
	// Unauthenticated means the caller has no valid credentials.
	Unauthenticated Code = 16
)

// maxCode is the largest canonical code.
const maxCode = Unauthenticated

var names = [...]string{
	OK:                 "OK",
	Canceled:           "Canceled",
	Unknown:            "Unknown",
	InvalidArgument:    "InvalidArgument",
	DeadlineExceeded:   "DeadlineExceeded",
	NotFound:           "NotFound",
	AlreadyExists:      "AlreadyExists",
	PermissionDenied:   "PermissionDenied",
	ResourceExhausted:  "ResourceExhausted",
	FailedPrecondition: "FailedPrecondition",
	Aborted:            "Aborted",
	OutOfRange:         "OutOfRange",
	Unimplemented:      "Unimplemented",
	Internal:           "Internal",
	Unavailable:        "Unavailable",
	DataLoss:           "DataLoss",
	Unauthenticated:    "Unauthenticated",
}

// String returns the code's name ("NotFound"), or "Code(N)" for a code outside the canonical list.
func (c Code) String() string {
	if c <= maxCode {
		return names[c]
	}
	return "Code(" + strconv.FormatUint(uint64(c), 10) + ")"
}

// Valid reports whether c is one of the canonical codes.
func (c Code) Valid() bool { return c <= maxCode }

// Parse returns the code named s ("NotFound"); the names are those String returns.
// An unknown name is an error.
func Parse(s string) (Code, error) {
	for i, n := range names {
		if n == s {
			return Code(i), nil
		}
	}
	return Unknown, fmt.Errorf("codes: unknown code name %q", s)
}

// All returns the canonical codes in numeric order.
func All() []Code {
	out := make([]Code, 0, maxCode+1)
	for c := OK; c <= maxCode; c++ {
		out = append(out, c)
	}
	return out
}

// httpStatus is THE table mapping codes to HTTP status codes (the one the HTTP adapter uses);
// it follows the mapping of the Google API design guide.
var httpStatus = [...]int{
	OK:                 http.StatusOK,
	Canceled:           499, // client closed request
	Unknown:            http.StatusInternalServerError,
	InvalidArgument:    http.StatusBadRequest,
	DeadlineExceeded:   http.StatusGatewayTimeout,
	NotFound:           http.StatusNotFound,
	AlreadyExists:      http.StatusConflict,
	PermissionDenied:   http.StatusForbidden,
	ResourceExhausted:  http.StatusTooManyRequests,
	FailedPrecondition: http.StatusBadRequest,
	Aborted:            http.StatusConflict,
	OutOfRange:         http.StatusBadRequest,
	Unimplemented:      http.StatusNotImplemented,
	Internal:           http.StatusInternalServerError,
	Unavailable:        http.StatusServiceUnavailable,
	DataLoss:           http.StatusInternalServerError,
	Unauthenticated:    http.StatusUnauthorized,
}

// HTTPStatus returns the HTTP status code that represents c: 200 for OK, 404 for NotFound,
// 499 for Canceled, and so on. A code outside the canonical list maps to 500.
func HTTPStatus(c Code) int {
	if c <= maxCode {
		return httpStatus[c]
	}
	return http.StatusInternalServerError
}
