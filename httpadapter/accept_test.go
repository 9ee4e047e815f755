package httpadapter

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestTemporaryAcceptError(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.EMFILE)}, true},
		{&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.ENFILE)}, true},
		{&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.ECONNABORTED)}, true},
		{fmt.Errorf("wrapped: %w", syscall.ENOBUFS), true},
		{&net.OpError{Op: "accept", Err: net.ErrClosed}, false},
		{errors.New("listener broke"), false},
		{nil, false},
	}
	for _, tc := range tests {
		if got := TemporaryAcceptError(tc.err); got != tc.want {
			t.Errorf("TemporaryAcceptError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
