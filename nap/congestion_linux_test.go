package nap

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/seed857a6cbd/pocket/nap/internal/testkit"
)

// congestionOf reads the congestion-control algorithm of conn's socket
// (getsockopt TCP_CONGESTION), looking through TLS.
func congestionOf(t *testing.T, conn net.Conn) string {
	t.Helper()
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	rc, err := conn.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var buf [16]byte
	n := uint32(len(buf))
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_CONGESTION,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
	}); err != nil {
		t.Fatal(err)
	}
	if errno != 0 {
		t.Fatalf("getsockopt TCP_CONGESTION: %v", errno)
	}
	name, _, _ := strings.Cut(string(buf[:n]), "\x00")
	return name
}

// otherCongestion returns an algorithm this kernel has that is not the
// system's default, so that a test sees Config.Congestion take effect.
func otherCongestion(t *testing.T) string {
	t.Helper()
	def := congestionOf(t, pairConns(t))
	for _, name := range availableCongestion() {
		if name != def {
			return name
		}
	}
	t.Skipf("this kernel has one congestion-control algorithm (%s)", def)
	return ""
}

// pairConns returns the client end of a fresh loopback TCP connection.
func pairConns(t *testing.T) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	return c
}

// TestCongestion: Config.Congestion sets the algorithm of both ends' sockets
// (Dial and Listen, under TLS too, Client and Server over connections made
// elsewhere), a name the kernel does not have is refused by VerifyConfig with
// the list of those it has, a connection that is not a socket makes Server
// fail and makes Listener.Accept close it and go on with the next one.
func TestCongestion(t *testing.T) {
	name := otherCongestion(t)
	ctx := testCtx(t)

	// both dials ln with dcfg and checks the algorithm of both ends' sockets.
	both := func(t *testing.T, ln *Listener, dcfg *Config) {
		t.Helper()
		accepted := make(chan *Session, 1)
		go func() {
			s, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- s
		}()
		c, err := Dial(ctx, "tcp", ln.Addr().String(), dcfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, ok := <-accepted
		if !ok {
			t.Fatal("accept failed")
		}
		defer s.Close()
		if got, gotS := congestionOf(t, c.conn), congestionOf(t, s.conn); got != name || gotS != name {
			t.Fatalf("client socket %s, server socket %s, want %s", got, gotS, name)
		}
	}

	t.Run("Dial and Listen", func(t *testing.T) {
		both(t, listenT(t, &Config{Congestion: name}), &Config{Congestion: name})
	})

	t.Run("TLS", func(t *testing.T) {
		pki := testkit.NewPKI(t, "nap congestion CA")
		ln := listenT(t, &Config{Congestion: name, TLSConfig: &tls.Config{Certificates: []tls.Certificate{pki.Server}, MinVersion: tls.VersionTLS12}})
		both(t, ln, &Config{Congestion: name, TLSConfig: &tls.Config{RootCAs: pki.Pool}})
	})

	t.Run("Client and Server", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		served := make(chan *Session, 1)
		go func() {
			conn, err := ln.Accept()
			if err != nil {
				close(served)
				return
			}
			s, err := Server(conn, &Config{Congestion: name})
			if err != nil {
				conn.Close()
				close(served)
				return
			}
			served <- s
		}()
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c, err := Client(conn, &Config{Congestion: name})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, ok := <-served
		if !ok {
			t.Fatal("Server failed")
		}
		defer s.Close()
		if got, gotS := congestionOf(t, c.conn), congestionOf(t, s.conn); got != name || gotS != name {
			t.Fatalf("Client's socket %s, Server's %s, want %s", got, gotS, name)
		}
	})

	t.Run("unknown name", func(t *testing.T) {
		err := VerifyConfig(&Config{Congestion: "no-such-cc"})
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), name) {
			t.Fatalf("VerifyConfig: %v, want ErrInvalidConfig listing the available algorithms", err)
		}
		if _, err := Listen("tcp", "127.0.0.1:0", &Config{Congestion: "no-such-cc"}); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("Listen: %v", err)
		}
		if err := VerifyConfig(&Config{Congestion: strings.Repeat("c", 16)}); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("16-byte name: %v", err)
		}
	})

	t.Run("not a socket", func(t *testing.T) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		if s, err := Server(a, &Config{Congestion: name}); err == nil || !strings.Contains(err.Error(), "not a socket") {
			if s != nil {
				s.Close()
			}
			t.Fatalf("Server over a pipe: %v, want an error saying it is not a socket", err)
		}
		// A listener that hands out a pipe, then a TCP connection: Accept
		// closes the pipe and returns the TCP connection's session.
		tcp, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p1, p2 := net.Pipe()
		defer p2.Close()
		nl, err := NewListener(&pipeFirst{Listener: tcp, pipe: p1}, &Config{Congestion: name})
		if err != nil {
			t.Fatal(err)
		}
		defer nl.Close()
		dialed := make(chan error, 1)
		go func() {
			c, err := Dial(ctx, "tcp", tcp.Addr().String(), nil)
			if err == nil {
				c.Close()
			}
			dialed <- err
		}()
		s, err := nl.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if got := congestionOf(t, s.conn); got != name {
			t.Fatalf("accepted socket: %s, want %s", got, name)
		}
		if _, err := p2.Read(make([]byte, 1)); err == nil {
			t.Fatal("the pipe Accept refused is still open")
		}
		if err := <-dialed; err != nil {
			t.Fatal(err)
		}
	})
}

// pipeFirst is a listener whose first Accept returns pipe.
type pipeFirst struct {
	net.Listener
	pipe net.Conn
}

func (l *pipeFirst) Accept() (net.Conn, error) {
	if p := l.pipe; p != nil {
		l.pipe = nil
		return p, nil
	}
	return l.Listener.Accept()
}
