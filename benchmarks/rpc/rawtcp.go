//go:build !rpcbench_node || rpcbench_rawtcp

package rpc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// rawtcpFramework is the wire's limit, not an RPC framework: a 4-byte big-endian length and
// the payload, echoed back, over plain TCP with one connection per caller (the client
// keeps a pool of Concurrency connections) and no encoding at all. Every other entry of a
// row does at least this much work.
type rawtcpFramework struct{}

func init() { Register(rawtcpFramework{}) }

func (rawtcpFramework) Name() string { return "rawtcp" }

type rawtcpServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func (rawtcpFramework) Serve(ln net.Listener) (io.Closer, error) {
	s := &rawtcpServer{ln: ln, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serveConn(c)
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
		}
	}()
	return s, nil
}

// serveConn echoes frames until the client closes the connection; one buffer per
// connection, reused.
func (s *rawtcpServer) serveConn(c net.Conn) {
	var hdr [4]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[:]))
		if n > MaxPayload {
			return
		}
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		b := net.Buffers{hdr[:], buf}
		if _, err := b.WriteTo(c); err != nil {
			return
		}
	}
}

func (s *rawtcpServer) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// rawtcpConn is one pooled connection.
type rawtcpConn struct {
	c net.Conn
}

type rawtcpClient struct {
	addr string
	pool chan *rawtcpConn // idle connections, at most Concurrency
}

func (rawtcpFramework) Dial(addr string, opts DialOptions) (Client, error) {
	return &rawtcpClient{addr: addr, pool: make(chan *rawtcpConn, max(opts.Concurrency, 1))}, nil
}

func (r *rawtcpClient) Echo(ctx context.Context, payload []byte) ([]byte, error) {
	return r.call(ctx, payload, nil)
}

// call is one echo on a pooled connection, its reply read into buf when it fits.
func (r *rawtcpClient) call(ctx context.Context, payload, buf []byte) ([]byte, error) {
	var rc *rawtcpConn
	select {
	case rc = <-r.pool:
	default:
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", r.addr)
		if err != nil {
			return nil, fmt.Errorf("rpc: rawtcp: %w", err)
		}
		rc = &rawtcpConn{c: c}
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = rc.c.SetDeadline(dl)
	}
	out, err := rc.echo(payload, buf)
	if err != nil {
		rc.c.Close()
		return nil, fmt.Errorf("rpc: rawtcp: %w", err)
	}
	select {
	case r.pool <- rc:
	default:
		rc.c.Close()
	}
	return out, nil
}

// Borrower makes rawtcp a Lender: one caller's replies are read into a buffer of its
// own, reused from call to call (as dora's LeaseReply reuses nap's pooled buffers), so
// that the wire's limit does not allocate per reply either.
func (r *rawtcpClient) Borrower() func(context.Context, []byte) ([]byte, error) {
	var buf []byte
	return func(ctx context.Context, payload []byte) ([]byte, error) {
		out, err := r.call(ctx, payload, buf)
		if cap(out) > cap(buf) {
			buf = out
		}
		return out, err
	}
}

// echo writes one frame and reads the answer into buf when it is large enough, else into
// a new buffer of its size (Echo: as every framework's client without a Lender does; the
// connection goes back to the pool before the caller reads the reply, so a buffer kept
// per connection would be overwritten by the next caller's call).
func (rc *rawtcpConn) echo(payload, buf []byte) ([]byte, error) {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(payload)))
	b := net.Buffers{hdr[:], payload}
	if _, err := b.WriteTo(rc.c); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(rc.c, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	if n != len(payload) {
		return nil, errors.New("reply length differs from the request's")
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err := io.ReadFull(rc.c, buf)
	return buf, err
}

func (r *rawtcpClient) Close() error {
	for {
		select {
		case rc := <-r.pool:
			rc.c.Close()
		default:
			return nil
		}
	}
}
