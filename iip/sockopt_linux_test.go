//go:build linux

package iip

import (
	"errors"
	"net"
	"syscall"
	"testing"
)

// sockBuf reads a socket buffer size (SO_RCVBUF or SO_SNDBUF) of nc.
func sockBuf(t *testing.T, nc net.Conn, opt int) int {
	t.Helper()
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, opt) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

// TestClientSocketOptions: by default the client's sockets get the receive
// buffer DefaultSocketReadBuffer toward a deployed server and keep the
// system's toward ours; SocketReadBuffer, SocketWriteBuffer and the
// DialControl hook apply to any server; a hook's error fails the dial.
func TestClientSocketOptions(t *testing.T) {
	_, addr := echoServer(t, nil)
	ds := startDeployedServer(t)
	// Linux reports twice the size asked for (its bookkeeping share).
	c := dialT(t, ds.addr(), nil)
	if got := sockBuf(t, c.c, syscall.SO_RCVBUF); got != 2*DefaultSocketReadBuffer {
		t.Fatalf("SO_RCVBUF toward a deployed server %d, want %d", got, 2*DefaultSocketReadBuffer)
	}
	// Toward our server (typed errors accepted) sizeForPeer leaves the
	// buffer alone; the system's default may equal 128 KiB, so the check
	// starts from another size.
	c = dialT(t, addr, &Options{SocketReadBuffer: 16 << 10})
	for _, tc := range []struct {
		ours bool
		want int
	}{{true, 32 << 10}, {false, 2 * DefaultSocketReadBuffer}} {
		if err := sizeForPeer(c.c, &Options{}, tc.ours); err != nil {
			t.Fatal(err)
		}
		if got := sockBuf(t, c.c, syscall.SO_RCVBUF); got != tc.want {
			t.Fatalf("ours=%v: SO_RCVBUF %d, want %d", tc.ours, got, tc.want)
		}
	}
	if err := sizeForPeer(c.c, &Options{SocketReadBuffer: -1}, false); err != nil {
		t.Fatal(err)
	}
	var called []string
	c = dialT(t, addr, &Options{
		SocketReadBuffer:  32 << 10,
		SocketWriteBuffer: 48 << 10,
		DialControl: func(network, address string, rc syscall.RawConn) error {
			called = append(called, network+" "+address)
			return nil
		},
	})
	if got := sockBuf(t, c.c, syscall.SO_RCVBUF); got != 64<<10 {
		t.Fatalf("SO_RCVBUF %d, want %d", got, 64<<10)
	}
	if got := sockBuf(t, c.c, syscall.SO_SNDBUF); got != 96<<10 {
		t.Fatalf("SO_SNDBUF %d, want %d", got, 96<<10)
	}
	if len(called) != 1 || called[0] != "tcp4 "+addr {
		t.Fatalf("DialControl calls %q", called)
	}
	boom := errors.New("boom")
	_, err := Dial(testCtx(t), addr, &Options{Logger: quietLogger(), DialControl: func(string, string, syscall.RawConn) error { return boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("dial with a failing hook: %v", err)
	}
}

// TestServerSocketOptions: ListenAndServe passes ListenControl to the
// listening socket (its error fails ListenAndServe), and Serve sets the
// configured buffers on every accepted connection.
func TestServerSocketOptions(t *testing.T) {
	boom := errors.New("boom")
	s := NewServer(&ServerOptions{Logger: quietLogger(), ListenControl: func(string, string, syscall.RawConn) error { return boom }})
	if err := s.ListenAndServe("127.0.0.1:0"); !errors.Is(err, boom) {
		t.Fatalf("ListenAndServe with a failing hook: %v", err)
	}
	_ = s.Close()

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sl := &sizedListener{Listener: l, rcv: 16 << 10, snd: 24 << 10}
	defer sl.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := sl.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	cc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	sc, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer sc.Close()
	if got := sockBuf(t, sc, syscall.SO_RCVBUF); got != 32<<10 {
		t.Fatalf("accepted SO_RCVBUF %d, want %d", got, 32<<10)
	}
	if got := sockBuf(t, sc, syscall.SO_SNDBUF); got != 48<<10 {
		t.Fatalf("accepted SO_SNDBUF %d, want %d", got, 48<<10)
	}
}
