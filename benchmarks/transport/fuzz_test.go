package transport

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
)

// rw is an in-memory connection: reads come from the input, writes are counted.
type rw struct {
	io.Reader
	written int
}

func (w *rw) Write(p []byte) (int, error) {
	w.written += len(p)
	return len(p), nil
}

func frame(kind byte, payload []byte) []byte {
	b := []byte{kind, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(payload)))
	return append(b, payload...)
}

// FuzzTCPServer feeds arbitrary bytes to the raw TCP server loop: it must end with an
// error (at the latest at the end of the input) and never panic or over-allocate.
func FuzzTCPServer(f *testing.F) {
	f.Add(frame(tcpEcho, []byte("hello")))
	f.Add(append(frame(tcpSink, make([]byte, 100)), frame(tcpSync, nil)...))
	f.Add([]byte{tcpEcho, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{'?', 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &rw{Reader: bytes.NewReader(in)}
		if err := serveTCPConn(c); err == nil {
			t.Fatal("serveTCPConn returned nil at the end of its input")
		}
		if c.written > len(in) {
			t.Fatalf("wrote %d bytes for %d bytes of input", c.written, len(in))
		}
	})
}

// FuzzMuxStream feeds arbitrary bytes to the server side of a multiplexed stream.
func FuzzMuxStream(f *testing.F) {
	msg := func(payload []byte) []byte {
		b := make([]byte, lenSize, lenSize+len(payload))
		binary.BigEndian.PutUint32(b, uint32(len(payload)))
		return append(b, payload...)
	}
	f.Add(append([]byte{byte(Echo)}, msg([]byte("hello"))...))
	f.Add(append(append([]byte{byte(Sink)}, msg(make([]byte, 100))...), msg(nil)...))
	f.Add([]byte{byte(Echo), 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{'?', 0, 0, 0, 1, 'x'})
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &rw{Reader: bytes.NewReader(in)}
		if err := serveMuxStream(c); err == nil {
			t.Fatal("serveMuxStream returned nil at the end of its input")
		}
		if c.written > len(in) {
			t.Fatalf("wrote %d bytes for %d bytes of input", c.written, len(in))
		}
	})
}
