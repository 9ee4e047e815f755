package codes

import (
	"net/http"
	"testing"
)

func TestString(t *testing.T) {
	tests := []struct {
		name string
		code Code
		want string
	}{
		{"ok", OK, "OK"},
		{"not found", NotFound, "NotFound"},
		{"unauthenticated", Unauthenticated, "Unauthenticated"},
		{"out of list", Code(42), "Code(42)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.code.String(); got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseRoundTrip(t *testing.T) {
	for _, c := range All() {
		got, err := Parse(c.String())
		if err != nil || got != c {
			t.Fatalf("Parse(%q) = %v, %v; want %v", c.String(), got, err, c)
		}
	}
	if _, err := Parse("Nope"); err == nil {
		t.Fatal("Parse(Nope) succeeded")
	}
	if n := len(All()); n != 17 {
		t.Fatalf("All() has %d codes, want 17", n)
	}
}

func TestHTTPStatus(t *testing.T) {
	tests := []struct {
		code Code
		want int
	}{
		{OK, http.StatusOK},
		{InvalidArgument, http.StatusBadRequest},
		{NotFound, http.StatusNotFound},
		{PermissionDenied, http.StatusForbidden},
		{Unauthenticated, http.StatusUnauthorized},
		{Unimplemented, http.StatusNotImplemented},
		{Unavailable, http.StatusServiceUnavailable},
		{DeadlineExceeded, http.StatusGatewayTimeout},
		{ResourceExhausted, http.StatusTooManyRequests},
		{Canceled, 499},
		{Code(99), http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			if got := HTTPStatus(tt.code); got != tt.want {
				t.Fatalf("HTTPStatus(%v) = %d, want %d", tt.code, got, tt.want)
			}
		})
	}
	for _, c := range All() {
		if HTTPStatus(c) == 0 {
			t.Fatalf("HTTPStatus(%v) missing", c)
		}
	}
}

func TestLegacy(t *testing.T) {
	tests := []struct {
		name   string
		code   Code
		legacy LegacyCode
		back   Code
	}{
		{"ok", OK, LegacyOk, OK},
		{"unimplemented", Unimplemented, LegacyUnimplemented, Unimplemented},
		{"invalid argument", InvalidArgument, LegacyBadRequest, InvalidArgument},
		{"not found", NotFound, LegacyNotFound, NotFound},
		{"permission", PermissionDenied, LegacyPermissionDenied, PermissionDenied},
		{"internal", Internal, LegacyInternal, Internal},
		{"unauthenticated", Unauthenticated, LegacyUnauthenticated, Unauthenticated},
		{"unknown", Unknown, LegacyUnknown, Unknown},
		{"unavailable", Unavailable, LegacyUnavailable, Unavailable},
		{"out of range", OutOfRange, LegacyOutOfRange, OutOfRange},
		{"deadline", DeadlineExceeded, LegacyUnavailable, Unavailable},
		{"data loss", DataLoss, LegacyInternalServerError, Internal},
		{"out of list", Code(99), LegacyUnknown, Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ToLegacy(tt.code); got != tt.legacy {
				t.Fatalf("ToLegacy(%v) = %v, want %v", tt.code, got, tt.legacy)
			}
			if got := FromLegacy(tt.legacy); got != tt.back {
				t.Fatalf("FromLegacy(%v) = %v, want %v", tt.legacy, got, tt.back)
			}
		})
	}
	if got := FromLegacy(LegacyCode(77)); got != Unknown {
		t.Fatalf("FromLegacy(77) = %v", got)
	}
	if got := LegacyInternalServerError.String(); got != "InternalServerError" {
		t.Fatalf("String = %q", got)
	}
	for _, c := range All() {
		if c != OK && ToLegacy(c) == LegacyOk {
			t.Fatalf("ToLegacy(%v) = Ok", c)
		}
	}
}
