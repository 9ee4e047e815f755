//go:build !linux

package nap

import (
	"fmt"
	"net"
)

func checkCongestion(name string) error {
	return fmt.Errorf("%w: Congestion %q: setting the congestion control is supported on Linux only", ErrInvalidConfig, name)
}

func setCongestion(net.Conn, string) error { return nil } // unreachable: checkCongestion refuses
