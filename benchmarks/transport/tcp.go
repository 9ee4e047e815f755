//go:build !rpcbench_node || rpcbench_tcp

package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// The raw TCP baseline: one connection, no multiplexing, every frame is a kind byte and a
// 4-byte big-endian length followed by the payload. The server handles frames strictly in
// order and the client matches replies to callers first in, first out, so any number of
// goroutines pipeline calls on the connection. It is the wire's limit that a multiplexer
// is measured against.
const (
	tcpHeader  = 5
	tcpEcho    = 'E'
	tcpSink    = 'S'
	tcpSync    = 'Y'
	tcpBufSize = 64 << 10
	// tcpMaxPending bounds the bytes queued behind a write in progress.
	tcpMaxPending = 1 << 20
	tcpReadAhead  = 4096
)

// ErrSessionClosed is returned (wrapped) by calls on a raw TCP session after it closed or
// failed.
var ErrSessionClosed = errors.New("transport: session closed")

type tcpTransport struct{}

func (tcpTransport) Name() string { return "tcp" }

func (tcpTransport) Serve(ln net.Listener) (io.Closer, error) {
	s := &tcpServer{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

func (tcpTransport) Dial(addr string) (Session, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: tcp: %w", err)
	}
	s := &tcpSession{c: c, readerDone: make(chan struct{})}
	s.drained.L = &s.mu
	go s.readLoop()
	return s, nil
}

func init() { Register(tcpTransport{}) }

type tcpServer struct {
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

func (s *tcpServer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			// The connection ends with an error when the client goes away.
			_ = serveTCPConn(c)
			c.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// serveTCPConn answers frames in order, flushing replies whenever no more input is
// buffered (so pipelined requests share write calls).
func serveTCPConn(c io.ReadWriter) error {
	br := bufio.NewReaderSize(c, tcpBufSize)
	bw := bufio.NewWriterSize(c, tcpBufSize)
	var hdr [tcpHeader]byte
	buf := make([]byte, tcpReadAhead)
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint32(hdr[1:]))
		if err := checkLen(n); err != nil {
			return err
		}
		switch hdr[0] {
		case tcpEcho:
			if cap(buf) < n {
				buf = make([]byte, n)
			}
			if _, err := io.ReadFull(br, buf[:n]); err != nil {
				return err
			}
			bw.Write(hdr[:])
			bw.Write(buf[:n])
		case tcpSink:
			if _, err := br.Discard(n); err != nil {
				return err
			}
		case tcpSync:
			bw.Write(hdr[:])
		default:
			return fmt.Errorf("transport: tcp: unknown frame kind %q", hdr[0])
		}
		if br.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				return err
			}
		}
	}
}

func (s *tcpServer) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// tcpWaiter is a caller waiting for its reply; each stream owns one and reuses it.
type tcpWaiter struct {
	kind byte
	resp []byte
	done chan error
}

// tcpSession writes with group commit: a caller appends its frame to the shared buffer and,
// when no write is in progress, writes the buffer out itself, repeating while others
// appended meanwhile. A caller that finds tcpMaxPending bytes already waiting behind a
// write in progress waits for it (a bulk sender would otherwise grow the buffer without
// bound while another caller's write is blocked on a full socket).
type tcpSession struct {
	c          net.Conn
	readerDone chan struct{}

	mu       sync.Mutex
	buf      []byte
	spare    []byte
	flushing bool
	drained  sync.Cond // signalled whenever the writer takes the buffer or fails
	queue    []*tcpWaiter
	err      error
}

func (s *tcpSession) send(kind byte, p []byte, w *tcpWaiter) error {
	if err := checkLen(len(p)); err != nil {
		return err
	}
	s.mu.Lock()
	for s.flushing && len(s.buf) >= tcpMaxPending && s.err == nil {
		s.drained.Wait()
	}
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return err
	}
	s.buf = append(s.buf, kind, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(s.buf[len(s.buf)-4:], uint32(len(p)))
	s.buf = append(s.buf, p...)
	if w != nil {
		s.queue = append(s.queue, w)
	}
	if s.flushing {
		s.mu.Unlock()
		return nil
	}
	s.flushing = true
	for len(s.buf) > 0 && s.err == nil {
		out := s.buf
		s.buf = s.spare[:0]
		s.drained.Broadcast()
		s.mu.Unlock()
		_, err := s.c.Write(out)
		s.mu.Lock()
		s.spare = out
		if err != nil {
			s.failLocked(err)
		}
	}
	s.flushing = false
	err := s.err
	s.mu.Unlock()
	return err
}

// failLocked records the session's first error, closes the connection and fails every
// waiting caller.
func (s *tcpSession) failLocked(err error) {
	if s.err == nil {
		s.err = fmt.Errorf("%w: %w", ErrSessionClosed, err)
		s.c.Close()
	}
	for _, w := range s.queue {
		w.done <- s.err
	}
	s.queue = nil
	s.drained.Broadcast()
}

func (s *tcpSession) readLoop() {
	defer close(s.readerDone)
	err := s.read()
	s.mu.Lock()
	s.failLocked(err)
	s.mu.Unlock()
}

func (s *tcpSession) read() error {
	br := bufio.NewReaderSize(s.c, tcpBufSize)
	var hdr [tcpHeader]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint32(hdr[1:]))
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			return fmt.Errorf("%w: unexpected frame %q of %d bytes", ErrBadReply, hdr[0], n)
		}
		w := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.mu.Unlock()
		if hdr[0] != w.kind || n != len(w.resp) {
			err := fmt.Errorf("%w: expected %q of %d bytes, got %q of %d", ErrBadReply, w.kind, len(w.resp), hdr[0], n)
			w.done <- err
			return err
		}
		if _, err := io.ReadFull(br, w.resp); err != nil {
			w.done <- err
			return err
		}
		w.done <- nil
	}
}

func (s *tcpSession) Open(kind Kind) (Stream, error) {
	if kind != Echo && kind != Sink {
		return nil, fmt.Errorf("transport: tcp: unknown stream kind %q", kind)
	}
	return &tcpStream{s: s, kind: kind, w: tcpWaiter{done: make(chan error, 1)}}, nil
}

func (s *tcpSession) Close() error {
	s.mu.Lock()
	if s.err == nil {
		s.err = ErrSessionClosed
		s.c.Close()
	}
	s.mu.Unlock()
	<-s.readerDone
	return nil
}

type tcpStream struct {
	s    *tcpSession
	kind Kind
	w    tcpWaiter
}

func (t *tcpStream) call(kind byte, p, resp []byte) error {
	t.w.kind = kind
	t.w.resp = resp
	if err := t.s.send(kind, p, &t.w); err != nil {
		return err
	}
	return <-t.w.done
}

func (t *tcpStream) Echo(req, resp []byte) error {
	if t.kind != Echo {
		return fmt.Errorf("transport: Echo on a %q stream", t.kind)
	}
	if len(resp) < len(req) {
		return fmt.Errorf("transport: Echo response buffer of %d bytes is shorter than the request's %d", len(resp), len(req))
	}
	return t.call(tcpEcho, req, resp[:len(req)])
}

func (t *tcpStream) Send(p []byte) error {
	if t.kind != Sink {
		return fmt.Errorf("transport: Send on a %q stream", t.kind)
	}
	return t.s.send(tcpSink, p, nil)
}

func (t *tcpStream) Sync() error {
	if t.kind != Sink {
		return fmt.Errorf("transport: Sync on a %q stream", t.kind)
	}
	return t.call(tcpSync, nil, nil)
}

func (t *tcpStream) Close() error { return nil }
