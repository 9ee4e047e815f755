//go:build !rpcbench_node || rpcbench_smux || rpcbench_yamux

package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// The framing on a byte-stream multiplexer's stream: the stream's first byte is its Kind,
// then every message is a 4-byte big-endian length followed by that many bytes. On a sink
// stream a zero-length message asks for a sync; the server answers with the byte syncAck.
const (
	lenSize = 4
	syncAck = 'Y'
)

// muxSession is what a byte-stream multiplexer (yamux, smux) offers on one connection.
type muxSession interface {
	Accept() (io.ReadWriteCloser, error)
	Open() (io.ReadWriteCloser, error)
	Close() error
}

// muxTransport runs the benchmark protocol over a byte-stream multiplexer.
type muxTransport struct {
	name   string
	server func(net.Conn) (muxSession, error)
	client func(net.Conn) (muxSession, error)
}

func (m *muxTransport) Name() string { return m.name }

func (m *muxTransport) Serve(ln net.Listener) (io.Closer, error) {
	s := &muxServer{ln: ln, sessions: map[muxSession]struct{}{}, newSession: m.server}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

func (m *muxTransport) Dial(addr string) (Session, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: %s: %w", m.name, err)
	}
	s, err := m.client(c)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("transport: %s: %w", m.name, err)
	}
	return &muxClient{name: m.name, s: s}, nil
}

type muxServer struct {
	ln         net.Listener
	newSession func(net.Conn) (muxSession, error)
	wg         sync.WaitGroup
	mu         sync.Mutex
	closed     bool
	sessions   map[muxSession]struct{}
}

func (s *muxServer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		sess, err := s.newSession(c)
		if err != nil {
			c.Close()
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			sess.Close()
			return
		}
		s.sessions[sess] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveSession(sess)
	}
}

func (s *muxServer) serveSession(sess muxSession) {
	defer s.wg.Done()
	defer func() {
		sess.Close()
		s.mu.Lock()
		delete(s.sessions, sess)
		s.mu.Unlock()
	}()
	for {
		st, err := sess.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer st.Close()
			// A stream ends with an error when the peer closes it; nothing to report.
			_ = serveMuxStream(st)
		}()
	}
}

// serveMuxStream answers one stream until it fails or ends.
func serveMuxStream(st io.ReadWriter) error {
	var kind [1]byte
	if _, err := io.ReadFull(st, kind[:]); err != nil {
		return err
	}
	buf := make([]byte, lenSize, lenSize+4096)
	for {
		if _, err := io.ReadFull(st, buf[:lenSize]); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint32(buf[:lenSize]))
		if err := checkLen(n); err != nil {
			return err
		}
		if cap(buf) < lenSize+n {
			buf = make([]byte, lenSize, lenSize+n)
			binary.BigEndian.PutUint32(buf, uint32(n))
		}
		switch Kind(kind[0]) {
		case Echo:
			msg := buf[:lenSize+n]
			if _, err := io.ReadFull(st, msg[lenSize:]); err != nil {
				return err
			}
			if _, err := st.Write(msg); err != nil {
				return err
			}
		case Sink:
			if n == 0 {
				if _, err := st.Write([]byte{syncAck}); err != nil {
					return err
				}
				continue
			}
			if _, err := io.ReadFull(st, buf[lenSize:lenSize+n]); err != nil {
				return err
			}
		default:
			return fmt.Errorf("transport: unknown stream kind %q", kind[0])
		}
	}
}

func (s *muxServer) Close() error {
	s.mu.Lock()
	s.closed = true
	for sess := range s.sessions {
		sess.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

type muxClient struct {
	name string
	s    muxSession
}

func (c *muxClient) Open(kind Kind) (Stream, error) {
	st, err := c.s.Open()
	if err != nil {
		return nil, fmt.Errorf("transport: %s: open stream: %w", c.name, err)
	}
	if _, err := st.Write([]byte{byte(kind)}); err != nil {
		st.Close()
		return nil, fmt.Errorf("transport: %s: open stream: %w", c.name, err)
	}
	return &muxStream{rwc: st, kind: kind}, nil
}

func (c *muxClient) Close() error { return c.s.Close() }

// muxStream is the client side of one stream; it writes each message with one Write.
type muxStream struct {
	rwc  io.ReadWriteCloser
	kind Kind
	wbuf []byte
	hdr  [lenSize]byte
}

func (s *muxStream) write(p []byte) error {
	if err := checkLen(len(p)); err != nil {
		return err
	}
	if cap(s.wbuf) < lenSize+len(p) {
		s.wbuf = make([]byte, lenSize+len(p))
	}
	msg := s.wbuf[:lenSize+len(p)]
	binary.BigEndian.PutUint32(msg, uint32(len(p)))
	copy(msg[lenSize:], p)
	_, err := s.rwc.Write(msg)
	return err
}

func (s *muxStream) Echo(req, resp []byte) error {
	if s.kind != Echo {
		return fmt.Errorf("transport: Echo on a %q stream", s.kind)
	}
	if err := s.write(req); err != nil {
		return err
	}
	if _, err := io.ReadFull(s.rwc, s.hdr[:]); err != nil {
		return err
	}
	n := int(binary.BigEndian.Uint32(s.hdr[:]))
	if n != len(req) || n > len(resp) {
		return fmt.Errorf("%w: echo of %d bytes came back with %d", ErrBadReply, len(req), n)
	}
	_, err := io.ReadFull(s.rwc, resp[:n])
	return err
}

func (s *muxStream) Send(p []byte) error {
	if s.kind != Sink {
		return fmt.Errorf("transport: Send on a %q stream", s.kind)
	}
	if len(p) == 0 {
		return nil
	}
	return s.write(p)
}

func (s *muxStream) Sync() error {
	if s.kind != Sink {
		return fmt.Errorf("transport: Sync on a %q stream", s.kind)
	}
	if err := s.write(nil); err != nil {
		return err
	}
	var ack [1]byte
	if _, err := io.ReadFull(s.rwc, ack[:]); err != nil {
		return err
	}
	if ack[0] != syncAck {
		return fmt.Errorf("%w: sync answered with %q", ErrBadReply, ack[0])
	}
	return nil
}

func (s *muxStream) Close() error { return s.rwc.Close() }
