//go:build !unix

package nap

import "syscall"

// setRcvBuf does nothing where SO_RCVBUF cannot be set portably before connect.
func setRcvBuf(int) func(network, address string, c syscall.RawConn) error { return nil }
