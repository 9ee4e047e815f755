package nap

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/nap/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

// testTimeout bounds every wait in the tests; reaching it is a failure.
const testTimeout = 20 * time.Second

func testCtx(t testing.TB) context.Context { return testkit.Context(t, testTimeout) }

// listenT returns a loopback nap listener closed at cleanup.
func listenT(t testing.TB, cfg *Config) *Listener {
	t.Helper()
	ln, err := Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// pair returns a connected client and server session over loopback TCP.
func pair(t testing.TB, ccfg, scfg *Config) (client, server *Session) {
	t.Helper()
	ln := listenT(t, scfg)
	type res struct {
		s   *Session
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := ln.Accept()
		ch <- res{s, err}
	}()
	c, err := Dial(testCtx(t), "tcp", ln.Addr().String(), ccfg)
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() {
		c.Close()
		r.s.Close()
	})
	return c, r.s
}

// serveEcho answers every stream of s by echoing each message, then
// half-closing after the peer's EOF. It returns when s closes.
func serveEcho(s *Session) (done <-chan struct{}) {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		for {
			st, err := s.AcceptStream(context.Background())
			if err != nil {
				return
			}
			go func() {
				defer st.Close()
				for {
					m, err := st.Recv()
					if err == io.EOF {
						st.CloseSend()
						return
					}
					if err != nil {
						return
					}
					if err := st.Send(m); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ch
}

// echoPair is pair plus serveEcho on the server; cleanup waits for the echo loop.
func echoPair(t testing.TB, ccfg, scfg *Config) (client, server *Session) {
	t.Helper()
	c, s := pair(t, ccfg, scfg)
	done := serveEcho(s)
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return c, s
}

// call does one unary request/response on a new stream.
func call(ctx context.Context, s *Session, msg []byte) ([]byte, error) {
	st, err := s.OpenStream(ctx)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if err := st.SendAndClose(msg); err != nil {
		return nil, err
	}
	return st.Recv()
}

// rawFrame encodes one frame by hand (the test's independent encoder).
func rawFrame(typ byte, flags byte, streamID uint32, payload []byte) []byte {
	b := make([]byte, 10+len(payload))
	binary.BigEndian.PutUint32(b[0:], uint32(len(payload)))
	binary.BigEndian.PutUint32(b[4:], streamID)
	b[8] = typ
	b[9] = flags
	copy(b[10:], payload)
	return b
}

// rawSettings is a client handshake frame with default values, written by hand.
func rawSettings() []byte {
	p := []byte{0, 1} // version 1
	add := func(id uint16, v uint32) {
		p = binary.BigEndian.AppendUint16(p, id)
		p = binary.BigEndian.AppendUint32(p, v)
	}
	add(1, 64<<10)
	add(2, 4<<20)
	add(3, 1024)
	add(4, 1<<20)
	add(5, 4<<20)
	return rawFrame(0x2, 0, 0, p)
}

type rawPeer struct {
	t    testing.TB
	conn net.Conn
}

// dialRaw opens a plain TCP connection to ln (no nap client).
func dialRaw(t testing.TB, ln *Listener) *rawPeer {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawPeer{t: t, conn: c}
}

func (p *rawPeer) write(frames ...[]byte) {
	p.t.Helper()
	p.conn.SetWriteDeadline(time.Now().Add(testTimeout))
	if _, err := p.conn.Write(bytes.Join(frames, nil)); err != nil {
		p.t.Fatal(err)
	}
}

type gotFrame struct {
	typ, flags byte
	stream     uint32
	payload    []byte
}

// read reads one frame with a deadline.
func (p *rawPeer) read() (gotFrame, error) {
	p.conn.SetReadDeadline(time.Now().Add(testTimeout))
	var h [10]byte
	if _, err := io.ReadFull(p.conn, h[:]); err != nil {
		return gotFrame{}, err
	}
	n := binary.BigEndian.Uint32(h[0:])
	if n > 1<<20 {
		return gotFrame{}, errors.New("test: frame too long")
	}
	f := gotFrame{typ: h[8], flags: h[9], stream: binary.BigEndian.Uint32(h[4:]), payload: make([]byte, n)}
	_, err := io.ReadFull(p.conn, f.payload)
	return f, err
}

func (p *rawPeer) mustRead() gotFrame {
	p.t.Helper()
	f, err := p.read()
	if err != nil {
		p.t.Fatal(err)
	}
	return f
}

// readUntilClosed reads frames until the connection closes; it returns them.
func (p *rawPeer) readUntilClosed() []gotFrame {
	p.t.Helper()
	var fs []gotFrame
	for {
		f, err := p.read()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isConnReset(err) {
				return fs
			}
			p.t.Fatalf("waiting for close: %v", err)
		}
		fs = append(fs, f)
	}
}

func isConnReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

// acceptT accepts one server session from ln.
func acceptT(t testing.TB, ln *Listener) *Session {
	t.Helper()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// waitDone waits for a session to close.
func waitDone(t testing.TB, s *Session) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(testTimeout):
		t.Fatalf("session did not close; goroutines:\n%s", goroutineDump())
	}
}

// goroutineDump returns every goroutine's stack, so that a wait that times
// out shows where the session's goroutines are parked.
func goroutineDump() string {
	var b bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
	return b.String()
}
