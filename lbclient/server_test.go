package lbclient

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// echoServer is a loopback TCP server echoing each byte it reads. It counts
// served requests, reports connections the client closed, can hold requests
// behind a gate, and can be stopped and restarted on the same port.
type echoServer struct {
	t    testing.TB
	addr string

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	gate   chan struct{} // when non-nil, each request waits for it to close
	held   chan struct{} // receives one value per request waiting at the gate
	wg     sync.WaitGroup
	served atomic.Int64
	hangup chan struct{} // receives one value per connection closed by the client
	accept chan struct{} // receives one value per accepted connection
}

func startEcho(t testing.TB) *echoServer {
	t.Helper()
	s := &echoServer{t: t, conns: map[net.Conn]bool{}, hangup: make(chan struct{}, 1<<16), accept: make(chan struct{}, 1<<16), held: make(chan struct{}, 1<<16)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.stop)
	return s
}

func (s *echoServer) serve(ln net.Listener) {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.ln != ln {
				s.mu.Unlock()
				c.Close()
				return
			}
			s.conns[c] = true
			s.wg.Add(1)
			s.mu.Unlock()
			s.accept <- struct{}{}
			go s.handle(c)
		}
	}()
}

func (s *echoServer) handle(c net.Conn) {
	defer s.wg.Done()
	buf := make([]byte, 1)
	for {
		if _, err := c.Read(buf); err != nil {
			s.mu.Lock()
			byClient := s.conns[c]
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
			if byClient {
				s.hangup <- struct{}{}
			}
			return
		}
		s.mu.Lock()
		gate := s.gate
		s.mu.Unlock()
		if gate != nil {
			s.held <- struct{}{}
			<-gate
		}
		s.served.Add(1)
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

// hold makes requests wait until release is called.
func (s *echoServer) hold() {
	s.mu.Lock()
	s.gate = make(chan struct{})
	s.mu.Unlock()
}

func (s *echoServer) release() {
	s.mu.Lock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
	s.mu.Unlock()
}

// stop closes the listener and every connection and waits for the handlers.
func (s *echoServer) stop() {
	s.release()
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	for c := range s.conns {
		s.conns[c] = false
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// restart listens again on the same address.
func (s *echoServer) restart() {
	s.t.Helper()
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("relisten %s: %v", s.addr, err)
	}
	s.serve(ln)
}

// echoConn is the shared client balanced in tests: it keeps idle TCP
// connections to one echo server and dials another when all are busy, one
// call per connection at a time. A call that cannot dial is marked NotSent.
type echoConn struct {
	addr string

	mu     sync.Mutex
	idle   []*echoTCP
	closed bool
	dials  atomic.Int64
}

// echoTCP is one connection, stamped with dialGen when its dial completed.
type echoTCP struct {
	net.Conn
	gen int64
}

// dialGen is stamped on each connection: the kill test bumps it when it restarts
// a server, to tell connections to the old incarnation from new ones.
var dialGen atomic.Int64

func dialEcho(addr string) (*echoConn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		return nil, errors.New("test client: refusing non-loopback address " + addr)
	}
	return &echoConn{addr: addr}, nil
}

func (c *echoConn) get(ctx context.Context) (*echoTCP, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errors.New("test client: closed")
	}
	for n := len(c.idle); n > 0; n = len(c.idle) {
		tc := c.idle[n-1]
		c.idle = c.idle[:n-1]
		if tc.alive() {
			c.mu.Unlock()
			return tc, nil
		}
		tc.Close()
	}
	c.mu.Unlock()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, err
	}
	c.dials.Add(1)
	return &echoTCP{Conn: conn, gen: dialGen.Load()}, nil
}

// alive reports whether the idle connection's server has not closed it: a
// non-blocking peek finds nothing to read (EAGAIN), not an EOF or a reset.
func (tc *echoTCP) alive() bool {
	raw, err := tc.Conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	err = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = err == syscall.EAGAIN
		return true
	})
	return err == nil && ok
}

func (c *echoConn) put(tc *echoTCP) {
	c.mu.Lock()
	if !c.closed {
		c.idle = append(c.idle, tc)
		tc = nil
	}
	c.mu.Unlock()
	if tc != nil {
		tc.Close()
	}
}

// Close closes the idle connections; busy ones close when their call ends.
func (c *echoConn) Close() error {
	c.mu.Lock()
	c.closed = true
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, tc := range idle {
		tc.Close()
	}
	return nil
}

// roundTrip does one round trip and returns the generation of the connection
// used (-1 when none could be dialed: the error is then marked NotSent).
func (c *echoConn) roundTrip(ctx context.Context) (int64, error) {
	tc, err := c.get(ctx)
	if err != nil {
		return -1, NotSent(err)
	}
	if dl, ok := ctx.Deadline(); ok {
		tc.SetDeadline(dl)
	} else {
		tc.SetDeadline(time.Time{})
	}
	var b [1]byte
	b[0] = 'x'
	if _, err = tc.Write(b[:]); err == nil {
		_, err = tc.Read(b[:])
	}
	if err != nil {
		// The server is likely gone: its other idle connections are broken too.
		tc.Close()
		c.mu.Lock()
		idle := c.idle
		c.idle = nil
		c.mu.Unlock()
		for _, o := range idle {
			o.Close()
		}
		return tc.gen, err
	}
	c.put(tc)
	return tc.gen, nil
}

// call does one round trip.
func (c *echoConn) call(ctx context.Context) error {
	_, err := c.roundTrip(ctx)
	return err
}

func echoCall(ctx context.Context, c *echoConn) error { return c.call(ctx) }

// slogTo returns a logger sending each record's message and attributes to ch.
func slogTo(ch chan string) *slog.Logger { return slog.New(signalHandler{ch: ch}) }
