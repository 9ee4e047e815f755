package iip

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
)

// FuzzFrameDecode feeds arbitrary bytes to the frame decoder: it must
// never panic, never accept a frame that breaks the limits, and every
// header it accepts must re-encode to exactly the bytes it consumed.
func FuzzFrameDecode(f *testing.F) {
	f.Add([]byte("\x01/sys/new_channel\x00\x00\x00\x00\x00\x00\x00\x00\x02{}"))
	f.Fuzz(func(t *testing.T, in []byte) {
		fr := newFrameReader(bytes.NewReader(in), 4096)
		off := 0
		for range 64 {
			h, err := fr.readHeader()
			if err != nil {
				if !errors.Is(err, ErrProtocol) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			if h.Length == 0 || h.Length > MaxFrameData || len(h.Path) > MaxPathLen || h.Status > StatusClose {
				t.Fatalf("accepted bad header %+v", h)
			}
			enc := appendHeader(nil, h.Status, string(h.Path), h.Channel, int(h.Length))
			if !bytes.Equal(enc, in[off:off+len(enc)]) {
				t.Fatalf("header %+v re-encodes to %q, consumed %q", h, enc, in[off:off+len(enc)])
			}
			off += len(enc)
			if err := fr.discard(int(h.Length)); err != nil {
				return
			}
			off += int(h.Length)
		}
	})
}

// FuzzServerConn serves arbitrary bytes as one connection: the server must
// not panic or hang, and must end the connection when the input ends.
func FuzzServerConn(f *testing.F) {
	f.Add([]byte("\x01/echo\x00\x00\x00\x00\x00\x00\x00\x00\x02{}"))
	s := NewServer(&ServerOptions{Logger: quietLogger(), MaxChannels: 4, MaxMessageSize: 1 << 20})
	s.HandleFunc("/echo", func(ctx context.Context, r *Request) ([]byte, error) { return r.Data, nil })
	s.HandleFunc("/panic", func(ctx context.Context, r *Request) ([]byte, error) { panic("fuzz") })
	s.HandleStream("/stream", func(ctx context.Context, r *StreamRequest) ([]byte, error) {
		for {
			if _, err := r.Next(ctx); err != nil {
				return nil, err
			}
		}
	})
	f.Cleanup(func() { s.Close() })
	var id uint64
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		id++
		sc := newServerConn(s, server, id)
		s.mu.Lock()
		s.conns[sc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go sc.serve()
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			_, _ = io.Copy(io.Discard, client)
		}()
		_, _ = client.Write(in)
		_ = client.Close()
		<-sc.done
		<-drained
	})
}
