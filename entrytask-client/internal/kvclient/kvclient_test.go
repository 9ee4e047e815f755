package kvclient_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
)

func TestCodeOf(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		err  error
		want kvclient.Code
	}{
		{"nil", nil, kvclient.Code(codes.OK)},
		{"status error", kvclient.Errorf(kvclient.CodeKeyNotExist, "no"), kvclient.CodeKeyNotExist},
		{"wrapped status error", fmt.Errorf("read: %w", kvclient.Errorf(kvclient.Code(codes.Unauthenticated), "x")), kvclient.Code(codes.Unauthenticated)},
		{"deadline", context.DeadlineExceeded, kvclient.Code(codes.DeadlineExceeded)},
		{"canceled", canceled.Err(), kvclient.Code(codes.Canceled)},
		{"plain error", errors.New("boom"), kvclient.Code(codes.Unknown)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kvclient.CodeOf(tt.err); got != tt.want {
				t.Fatalf("CodeOf(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorIsAndString(t *testing.T) {
	err := fmt.Errorf("login: %w", kvclient.Errorf(kvclient.CodeIncorrectUsernameOrPassword, "incorrect username or password"))
	if !errors.Is(err, kvclient.ErrIncorrectUsernameOrPassword) {
		t.Fatalf("errors.Is(%v, ErrIncorrectUsernameOrPassword) = false", err)
	}
	if errors.Is(err, kvclient.ErrUnauthenticated) {
		t.Fatalf("errors.Is(%v, ErrUnauthenticated) = true", err)
	}
	if got, want := err.Error(), "login: kvclient: INCORRECT_USERNAME_OR_PASSWORD: incorrect username or password"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if got := kvclient.ErrKeyNotExist.Error(); got != "kvclient: KEY_NOT_EXIST" {
		t.Fatalf("bare Error() = %q", got)
	}
	tests := map[kvclient.Code]string{
		kvclient.Code(codes.OK): "OK", kvclient.Code(codes.Unauthenticated): "UNAUTHENTICATED",
		kvclient.Code(codes.ResourceExhausted): "RESOURCE_EXHAUSTED", kvclient.CodeKeyNotExist: "KEY_NOT_EXIST",
		kvclient.Code(77): "CODE(77)",
	}
	for c, want := range tests {
		if got := c.String(); got != want {
			t.Errorf("Code(%d).String() = %q, want %q", int(c), got, want)
		}
	}
}
