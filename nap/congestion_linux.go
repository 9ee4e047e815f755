package nap

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
)

// availableCongestion lists the congestion-control algorithms the kernel
// has (net.ipv4.tcp_available_congestion_control); nil when it cannot say.
func availableCongestion() []string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_available_congestion_control")
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// checkCongestion refuses a Config.Congestion the kernel does not have.
func checkCongestion(name string) error {
	if len(name) >= 16 { // TCP_CA_NAME_MAX, with its NUL
		return fmt.Errorf("%w: Congestion %q is longer than 15 bytes", ErrInvalidConfig, name)
	}
	if have := availableCongestion(); have != nil && !slices.Contains(have, name) {
		return fmt.Errorf("%w: Congestion %q is not one of this kernel's algorithms (%s)", ErrInvalidConfig, name, strings.Join(have, ", "))
	}
	return nil
}

// setCongestion sets the congestion-control algorithm of conn's TCP socket
// (TCP_CONGESTION); conn may be a *tls.Conn over one.
func setCongestion(conn net.Conn, name string) error {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return fmt.Errorf("nap: Congestion %q: the connection (%T) is not a socket", name, conn)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("nap: Congestion %q: %w", name, err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptString(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, name)
	}); err != nil {
		return fmt.Errorf("nap: Congestion %q: %w", name, err)
	}
	if serr != nil {
		return fmt.Errorf("nap: Congestion %q: setsockopt TCP_CONGESTION: %w (an unprivileged process may only pick net.ipv4.tcp_allowed_congestion_control)", name, serr)
	}
	return nil
}
