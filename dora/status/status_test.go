package status

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/seed857a6cbd/pocket/dora/codes"
)

func TestErrorNilForOK(t *testing.T) {
	if err := Error(codes.OK, "fine"); err != nil {
		t.Fatalf("Error(OK) = %v", err)
	}
	if err := Wrap(codes.Internal, nil); err != nil {
		t.Fatalf("Wrap(nil) = %v", err)
	}
	var s *Status
	if s.Code() != codes.OK || s.Message() != "" || s.Err() != nil {
		t.Fatal("nil *Status is not OK")
	}
}

func TestFromError(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode codes.Code
		wantMsg  string
		wantOK   bool
	}{
		{"nil", nil, codes.OK, "", true},
		{"status", Error(codes.NotFound, "no user"), codes.NotFound, "no user", true},
		{"wrapped status", fmt.Errorf("ctx: %w", Errorf(codes.Aborted, "retry %d", 3)), codes.Aborted, "retry 3", true},
		{"plain", io.EOF, codes.Unknown, "EOF", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := FromError(tt.err)
			if s.Code() != tt.wantCode || s.Message() != tt.wantMsg || ok != tt.wantOK {
				t.Fatalf("FromError = %v %q %v, want %v %q %v", s.Code(), s.Message(), ok, tt.wantCode, tt.wantMsg, tt.wantOK)
			}
		})
	}
}

func TestIs(t *testing.T) {
	errNotFound := Error(codes.NotFound, "")
	tests := []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{"same code empty target", Error(codes.NotFound, "user 7"), errNotFound, true},
		{"same code same message", Error(codes.NotFound, "user 7"), Error(codes.NotFound, "user 7"), true},
		{"same code other message", Error(codes.NotFound, "user 7"), Error(codes.NotFound, "user 8"), false},
		{"other code", Error(codes.Internal, "x"), errNotFound, false},
		{"deadline", Error(codes.DeadlineExceeded, "late"), context.DeadlineExceeded, true},
		{"canceled", Error(codes.Canceled, "gone"), context.Canceled, true},
		{"wrapped", fmt.Errorf("call: %w", Error(codes.NotFound, "x")), errNotFound, true},
		{"cause", Wrap(codes.Unavailable, io.ErrUnexpectedEOF), io.ErrUnexpectedEOF, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errors.Is(tt.err, tt.target); got != tt.want {
				t.Fatalf("errors.Is = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want codes.Code
	}{
		{"nil", nil, codes.OK},
		{"status", Error(codes.PermissionDenied, "no"), codes.PermissionDenied},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{"canceled", context.Canceled, codes.Canceled},
		{"other", io.EOF, codes.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Code(tt.err); got != tt.want {
				t.Fatalf("Code = %v, want %v", got, tt.want)
			}
		})
	}
	if got := FromContextError(context.DeadlineExceeded).Code(); got != codes.DeadlineExceeded {
		t.Fatalf("FromContextError = %v", got)
	}
}

func TestStringAndHTTP(t *testing.T) {
	err := Error(codes.NotFound, "user 7 not found")
	if got, want := err.Error(), "status: NotFound: user 7 not found"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if got := HTTPStatus(err); got != http.StatusNotFound {
		t.Fatalf("HTTPStatus = %d", got)
	}
	if got := HTTPStatus(nil); got != http.StatusOK {
		t.Fatalf("HTTPStatus(nil) = %d", got)
	}
	if got := Convert(io.EOF).HTTPStatus(); got != http.StatusInternalServerError {
		t.Fatalf("HTTPStatus(EOF) = %d", got)
	}
}
