package lbclient

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
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

// echoConn is the client type balanced in tests: one TCP connection.
type echoConn struct {
	net.Conn
	addr string
	gen  int64 // dialGen when the dial completed
}

// dialGen is stamped on each echoConn: the kill test bumps it when it restarts
// a server, to tell connections to the old incarnation from new ones.
var dialGen atomic.Int64

func dialEcho(ctx context.Context, addr string) (*echoConn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		return nil, errors.New("test dialer: refusing non-loopback address " + addr)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &echoConn{Conn: c, addr: addr, gen: dialGen.Load()}, nil
}

// call does one round trip.
func (c *echoConn) call(ctx context.Context) error {
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Time{})
	}
	var b [1]byte
	b[0] = 'x'
	if _, err := c.Write(b[:]); err != nil {
		return err
	}
	_, err := c.Read(b[:])
	return err
}

func echoCall(ctx context.Context, c *echoConn) error { return c.call(ctx) }

// waitFor waits for ch to deliver, failing the test after d.
func waitFor(t *testing.T, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

// slogTo returns a logger sending each record's message and attributes to ch.
func slogTo(ch chan string) *slog.Logger { return slog.New(signalHandler{ch: ch}) }
