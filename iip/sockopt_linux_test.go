//go:build linux

package iip

import (
	"context"
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
// buffer deployedSocketReadBuffer toward a deployed server and keep the
// system's toward ours; SocketReadBuffer, SocketWriteBuffer and the
// WithControl hook apply to any server; a hook's error fails the dial.
func TestClientSocketOptions(t *testing.T) {
	_, addr := echoServer(t)
	ds := startDeployedServer(t)
	// Linux reports twice the size asked for (its bookkeeping share).
	c := dialT(t, ds.Addr())
	if got := sockBuf(t, c.c, syscall.SO_RCVBUF); got != 2*deployedSocketReadBuffer {
		t.Fatalf("SO_RCVBUF toward a deployed server %d, want %d", got, 2*deployedSocketReadBuffer)
	}
	// Toward our server (typed errors accepted) sizeForPeer leaves the
	// buffer alone; the system's default may equal 128 KiB, so the check
	// starts from another size.
	c = dialT(t, addr, WithConfig(Config{SocketReadBuffer: 16 << 10}))
	for _, tc := range []struct {
		ours bool
		want int
	}{{true, 32 << 10}, {false, 2 * deployedSocketReadBuffer}} {
		if err := sizeForPeer(c.c, &clientOptions{}, tc.ours); err != nil {
			t.Fatal(err)
		}
		if got := sockBuf(t, c.c, syscall.SO_RCVBUF); got != tc.want {
			t.Fatalf("ours=%v: SO_RCVBUF %d, want %d", tc.ours, got, tc.want)
		}
	}
	if err := sizeForPeer(c.c, &clientOptions{sharedOptions: sharedOptions{Config: Config{SocketReadBuffer: -1}}}, false); err != nil {
		t.Fatal(err)
	}
	var called []string
	c = dialT(t, addr, WithConfig(Config{SocketReadBuffer: 32 << 10, SocketWriteBuffer: 48 << 10}), WithControl(func(network, address string, rc syscall.RawConn) error {
		called = append(called, network+" "+address)
		return nil
	}))
	if got := sockBuf(t, c.c, syscall.SO_RCVBUF); got != 64<<10 {
		t.Fatalf("SO_RCVBUF %d, want %d", got, 64<<10)
	}
	if got := sockBuf(t, c.c, syscall.SO_SNDBUF); got != 96<<10 {
		t.Fatalf("SO_SNDBUF %d, want %d", got, 96<<10)
	}
	if len(called) != 1 || called[0] != "tcp4 "+addr {
		t.Fatalf("WithControl calls %q", called)
	}
	boom := errors.New("boom")
	_, err := Dial(testCtx(t), addr, WithLogger(quietLogger()), WithControl(func(string, string, syscall.RawConn) error { return boom }))
	if !errors.Is(err, boom) {
		t.Fatalf("dial with a failing hook: %v", err)
	}
}

// TestServerSocketOptions: ListenAndServe passes WithControl to the
// listening socket (its error fails ListenAndServe), and Serve sets the
// configured buffers on every accepted connection.
func TestServerSocketOptions(t *testing.T) {
	boom := errors.New("boom")
	s := newServerT(t, WithLogger(quietLogger()), WithControl(func(string, string, syscall.RawConn) error { return boom }))
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

// TestServerSizesDeployedClients: with default options the server gives a
// connection deployedSocketReadBuffer once its first request shows a client
// without our capabilities (a deployed one), and leaves the system's
// buffer to a client that offers them; SocketReadBuffer -1 leaves every
// connection alone.
func TestServerSizesDeployedClients(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rcv   int
		caps  bool
		sized bool
		first string
	}{
		{"deployed client", 0, false, true, pathNewChannel},
		{"deployed client, call first", 0, false, true, "/echo"},
		{"our client", 0, true, false, pathNewChannel},
		{"deployed client, disabled", -1, false, false, pathNewChannel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Accepted sockets inherit the listener's 16 KiB (the system's
			// default may equal the 128 KiB a sized socket reports).
			s := newServerT(t, WithConfig(Config{SocketReadBuffer: tc.rcv}), WithLogger(quietLogger()))
			s.HandleFunc("/echo", func(ctx context.Context, r *Request) ([]byte, error) { return r.Data, nil })
			lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
				var serr error
				err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
				return errors.Join(err, serr)
			}}
			l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- s.Serve(l) }()
			t.Cleanup(func() { _ = s.Close(); <-served })
			addr := l.Addr().String()
			var c net.Conn
			if tc.caps {
				c = dialT(t, addr, WithConfig(Config{SocketReadBuffer: -1})).c
			} else {
				dc := dialDeployedClient(t, addr)
				if _, err := dc.Do(0, tc.first, []byte("{}")); err != nil {
					t.Fatal(err)
				}
				c = dc.Conn
			}
			// The request was answered, so the reader decided: find the
			// server's side of this connection.
			sc := serverSide(t, s, c)
			got := sockBuf(t, sc, syscall.SO_RCVBUF)
			want := 32 << 10
			if tc.sized {
				want = 2 * deployedSocketReadBuffer
			}
			if got != want {
				t.Fatalf("server SO_RCVBUF %d, want %d", got, want)
			}
		})
	}
}

// serverSide returns the server's socket of the client connection c.
func serverSide(t *testing.T, s *Server, c net.Conn) net.Conn {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for sc := range s.conns {
		if sc.c.RemoteAddr().String() == c.LocalAddr().String() {
			return sc.c
		}
	}
	t.Fatalf("no server connection from %v", c.LocalAddr())
	return nil
}
