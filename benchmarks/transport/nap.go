//go:build !rpcbench_node || rpcbench_nap

package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"

	"github.com/seed857a6cbd/pocket/nap"
)

// nap is message-framed, so it carries the benchmark protocol without the length prefix
// the byte-stream multiplexers need: a stream's first message is its Kind (one byte),
// then every message is one benchmark message. On a sink stream an empty message asks for
// a sync, answered with an empty message. Sessions use nap's default Config (keepalive
// included) plus YieldToReader at GOMAXPROCS 1 (napConfig), and MaxMessageSize is nap's
// 4 MiB default, above MaxMessage.
type napTransport struct{}

func init() { Register(napTransport{}) }

func (napTransport) Name() string { return "nap" }

// napConfig is nap's default Config, plus YieldToReader when the process runs with one P
// (as the suite's pinned processes do): the benchmark turns on what nap leaves off.
func napConfig() *nap.Config {
	return &nap.Config{YieldToReader: runtime.GOMAXPROCS(0) == 1}
}

func (napTransport) Serve(ln net.Listener) (io.Closer, error) {
	nl, err := nap.NewListener(ln, napConfig())
	if err != nil {
		return nil, fmt.Errorf("transport: nap: %w", err)
	}
	s := &napServer{ln: nl, sessions: map[*nap.Session]struct{}{}}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

func (napTransport) Dial(addr string) (Session, error) {
	s, err := nap.Dial(context.Background(), "tcp", addr, napConfig())
	if err != nil {
		return nil, fmt.Errorf("transport: nap: %w", err)
	}
	return napSession{s}, nil
}

type napServer struct {
	ln       *nap.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	closed   bool
	sessions map[*nap.Session]struct{}
}

func (s *napServer) acceptLoop() {
	defer s.wg.Done()
	for {
		sess, err := s.ln.Accept()
		if err != nil {
			return
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

func (s *napServer) serveSession(sess *nap.Session) {
	defer s.wg.Done()
	defer func() {
		sess.Close()
		s.mu.Lock()
		delete(s.sessions, sess)
		s.mu.Unlock()
	}()
	for {
		st, err := sess.AcceptStream(context.Background())
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer st.Close()
			// A stream ends with an error when the peer closes or resets it.
			_ = serveNapStream(st)
		}()
	}
}

// serveNapStream answers one stream until it fails or the peer half-closes it.
func serveNapStream(st *nap.Stream) error {
	kind, err := st.Recv()
	if err != nil {
		return err
	}
	if len(kind) != 1 || (Kind(kind[0]) != Echo && Kind(kind[0]) != Sink) {
		st.Reset(nap.CodeProtocol)
		return fmt.Errorf("transport: nap: bad stream kind message %q", kind)
	}
	for {
		msg, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return st.CloseSend()
		}
		if err != nil {
			return err
		}
		if err := checkLen(len(msg)); err != nil {
			st.Reset(nap.CodeMessageTooLarge)
			return err
		}
		switch {
		case Kind(kind[0]) == Echo:
			err = st.Send(msg)
		case len(msg) == 0:
			err = st.Send(nil)
		}
		if err != nil {
			return err
		}
		// Done with msg (Send has written it): nap may reuse its memory for a
		// later large message, as the other transports' servers reuse one buffer.
		st.Release(msg)
	}
}

func (s *napServer) Close() error {
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

type napSession struct{ s *nap.Session }

func (c napSession) Open(kind Kind) (Stream, error) {
	if kind != Echo && kind != Sink {
		return nil, fmt.Errorf("transport: nap: unknown stream kind %q", kind)
	}
	st, err := c.s.OpenStream(context.Background())
	if err != nil {
		return nil, fmt.Errorf("transport: nap: open stream: %w", err)
	}
	if err := st.Send([]byte{byte(kind)}); err != nil {
		st.Close()
		return nil, fmt.Errorf("transport: nap: open stream: %w", err)
	}
	return &napStream{st: st, kind: kind}, nil
}

func (c napSession) Close() error { return c.s.Close() }

// napStream is the client side of one stream.
type napStream struct {
	st   *nap.Stream
	kind Kind
}

func (t *napStream) Echo(req, resp []byte) error {
	if t.kind != Echo {
		return fmt.Errorf("transport: Echo on a %q stream", t.kind)
	}
	if len(resp) < len(req) {
		return fmt.Errorf("transport: Echo response buffer of %d bytes is shorter than the request's %d", len(resp), len(req))
	}
	if err := checkLen(len(req)); err != nil {
		return err
	}
	if err := t.st.Send(req); err != nil {
		return fmt.Errorf("transport: nap: %w", err)
	}
	got, err := t.st.Recv()
	if err != nil {
		return fmt.Errorf("transport: nap: %w", err)
	}
	if len(got) != len(req) {
		return fmt.Errorf("%w: sent %d bytes, got %d", ErrBadReply, len(req), len(got))
	}
	copy(resp, got)
	t.st.Release(got)
	return nil
}

func (t *napStream) Send(p []byte) error {
	if t.kind != Sink {
		return fmt.Errorf("transport: Send on a %q stream", t.kind)
	}
	if err := checkLen(len(p)); err != nil {
		return err
	}
	if len(p) == 0 {
		// An empty message is the sync request; an empty Send carries nothing.
		return nil
	}
	if err := t.st.Send(p); err != nil {
		return fmt.Errorf("transport: nap: %w", err)
	}
	return nil
}

func (t *napStream) Sync() error {
	if t.kind != Sink {
		return fmt.Errorf("transport: Sync on a %q stream", t.kind)
	}
	if err := t.st.Send(nil); err != nil {
		return fmt.Errorf("transport: nap: %w", err)
	}
	ack, err := t.st.Recv()
	if err != nil {
		return fmt.Errorf("transport: nap: %w", err)
	}
	if len(ack) != 0 {
		return fmt.Errorf("%w: sync answered with %d bytes", ErrBadReply, len(ack))
	}
	return nil
}

func (t *napStream) Close() error { return t.st.Close() }
