// Package status carries the outcome of a dora call: a code from package codes, a message,
// and optional details (protobuf messages, as google.rpc.Status carries). Handlers return
// status errors (status.Error, status.Errorf, Status.WithDetails then Err); clients inspect
// what came back with status.FromError, status.Code, errors.Is and Status.Details.
//
//	st, _ := status.New(codes.InvalidArgument, "bad request").WithDetails(&errdetails.BadRequest{...})
//	return nil, st.Err()
//	...
//	for _, d := range status.Convert(err).Details() {
//		if br, ok := d.(*errdetails.BadRequest); ok { ... }
//	}
package status

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/seed857a6cbd/pocket/dora/codes"
)

// Status is a call's outcome: a code, a human-readable message and optional details. The
// zero value and a nil *Status mean OK.
type Status struct {
	code    codes.Code
	message string
	details []*anypb.Any
	cause   error
}

// FromAny returns a Status with code c, message msg and details already packed in Any
// messages (what a dora client decodes from a response). The slice is kept, not copied.
func FromAny(c codes.Code, msg string, details []*anypb.Any) *Status {
	return &Status{code: c, message: msg, details: details}
}

// WithDetails returns a copy of s with details appended, each packed in an Any (type URL
// "type.googleapis.com/<full name>"). It fails for an OK status (an OK call carries no
// status) and for a message that does not marshal. Details travel to dora clients (not to
// legacy ones) and count toward the response's size.
func (s *Status) WithDetails(details ...proto.Message) (*Status, error) {
	if s.Code() == codes.OK {
		return nil, errors.New("status: WithDetails on an OK status")
	}
	out := *s
	out.details = slices.Clip(slices.Clone(s.details))
	for _, d := range details {
		a, err := anypb.New(d)
		if err != nil {
			return nil, fmt.Errorf("status: WithDetails: %w", err)
		}
		out.details = append(out.details, a)
	}
	return &out, nil
}

// Details returns the details unpacked: each element is a proto.Message of the detail's
// type when that type is linked into the program (protoregistry.GlobalTypes), or an error
// saying why it could not be unpacked. Nil when there are none.
func (s *Status) Details() []any {
	if s == nil || len(s.details) == 0 {
		return nil
	}
	out := make([]any, 0, len(s.details))
	for _, a := range s.details {
		m, err := a.UnmarshalNew()
		if err != nil {
			out = append(out, fmt.Errorf("status: detail %s: %w", a.GetTypeUrl(), err))
			continue
		}
		out = append(out, m)
	}
	return out
}

// AnyDetails returns the details as they travel, packed in Any messages; nil when there are
// none. The slice is shared: do not modify it.
func (s *Status) AnyDetails() []*anypb.Any {
	if s == nil {
		return nil
	}
	return s.details
}

// New returns a Status with code c and message msg.
func New(c codes.Code, msg string) *Status { return &Status{code: c, message: msg} }

// Newf returns a Status with code c and a message formatted like fmt.Sprintf.
func Newf(c codes.Code, format string, a ...any) *Status {
	return New(c, fmt.Sprintf(format, a...))
}

// Code returns the status code; OK for a nil *Status.
func (s *Status) Code() codes.Code {
	if s == nil {
		return codes.OK
	}
	return s.code
}

// Message returns the status message; "" for a nil *Status.
func (s *Status) Message() string {
	if s == nil {
		return ""
	}
	return s.message
}

// Err returns the status as an error, or nil when the code is OK.
func (s *Status) Err() error {
	if s.Code() == codes.OK {
		return nil
	}
	return &statusError{s: *s}
}

// String describes the status, like "status: NotFound: user 7 not found".
func (s *Status) String() string {
	if s.Message() == "" {
		return "status: " + s.Code().String()
	}
	return "status: " + s.Code().String() + ": " + s.Message()
}

// HTTPStatus returns the HTTP status code for the status's code (codes.HTTPStatus).
func (s *Status) HTTPStatus() int { return codes.HTTPStatus(s.Code()) }

// statusError is the error form of a non-OK Status. Use FromError to get at the status.
//
// errors.Is(err, target) is true when target is a status error with the same code and either
// the same message or an empty one; so `var ErrNotFound = status.Error(codes.NotFound, "")`
// matches every NotFound error. A DeadlineExceeded error also matches context.DeadlineExceeded
// and a Canceled error context.Canceled. errors.Unwrap returns the local cause, if any
// (see Wrap); causes never travel over the wire.
type statusError struct {
	s Status
}

// Error implements error: "status: NotFound: user 7 not found".
func (e *statusError) Error() string { return e.s.String() }

// DoraStatus returns the status the error carries.
func (e *statusError) DoraStatus() *Status { s := e.s; return &s }

// Unwrap returns the local cause given to Wrap, or nil.
func (e *statusError) Unwrap() error { return e.s.cause }

// Is reports whether target is a status error of the same code whose message is empty or
// equal to e's, or the context error corresponding to e's code.
func (e *statusError) Is(target error) bool {
	switch target {
	case context.DeadlineExceeded:
		return e.s.code == codes.DeadlineExceeded
	case context.Canceled:
		return e.s.code == codes.Canceled
	}
	t, ok := target.(*statusError)
	if !ok {
		return false
	}
	return t.s.code == e.s.code && (t.s.message == "" || t.s.message == e.s.message)
}

// Error returns an error with code c and message msg, or nil when c is OK.
func Error(c codes.Code, msg string) error { return New(c, msg).Err() }

// Errorf returns an error with code c and a message formatted like fmt.Sprintf, or nil when
// c is OK.
func Errorf(c codes.Code, format string, a ...any) error { return Newf(c, format, a...).Err() }

// Wrap returns an error with code c whose message is cause's message and which unwraps to
// cause, so errors.Is(err, cause) holds on this side. Only code and message travel to the
// peer. Wrap returns nil when cause is nil or c is OK.
func Wrap(c codes.Code, cause error) error {
	if cause == nil || c == codes.OK {
		return nil
	}
	return &statusError{s: Status{code: c, message: cause.Error(), cause: cause}}
}

// FromError returns the status carried by err and true when err is nil (OK) or wraps a
// status error. Otherwise it returns a status with code Unknown and err's message, and false.
func FromError(err error) (*Status, bool) {
	if err == nil {
		return New(codes.OK, ""), true
	}
	var e *statusError
	if errors.As(err, &e) {
		return e.DoraStatus(), true
	}
	return New(codes.Unknown, err.Error()), false
}

// Convert is FromError without the boolean.
func Convert(err error) *Status {
	s, _ := FromError(err)
	return s
}

// Code returns the code of err: OK for nil, the status code when err wraps a status error,
// DeadlineExceeded or Canceled for the context errors, Unknown otherwise.
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	var e *statusError
	if errors.As(err, &e) {
		return e.s.code
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	}
	return codes.Unknown
}

// FromContextError converts a context error into a status: DeadlineExceeded for
// context.DeadlineExceeded, Canceled for context.Canceled, Unknown otherwise; nil for nil.
func FromContextError(err error) *Status {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return New(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return New(codes.Canceled, err.Error())
	}
	return New(codes.Unknown, err.Error())
}

// HTTPStatus returns the HTTP status code for err's code (see Code and codes.HTTPStatus):
// 200 for nil, 404 for a NotFound error, 500 for an error that carries no status.
func HTTPStatus(err error) int { return codes.HTTPStatus(Code(err)) }
