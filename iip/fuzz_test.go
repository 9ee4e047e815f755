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
			if h.Length == 0 || h.Length > MaxFrameData || len(h.Path) > MaxPathLen || h.Status > statusClose {
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

// FuzzFramePayloads feeds arbitrary bytes to the frame decoder through
// reads of a size taken from the input, reading every payload: headers
// must re-encode to the bytes consumed, and every payload must equal the
// input bytes, still after later reads (payloads may share the read
// buffer).
func FuzzFramePayloads(f *testing.F) {
	f.Add(byte(0), []byte("\x01/sys/new_channel\x00\x00\x00\x00\x00\x00\x00\x00\x02{}"))
	f.Add(byte(7), append([]byte("\x05/echo\x00\x00\x00\x00\x03\x00\x00\x03\x00"), bytes.Repeat([]byte("x"), 800)...))
	var frames []byte
	for i, n := range []int{300, 1500, 2000, 40, 1800, 2048, 700, 3000} {
		frames = appendHeader(frames, statusResponse, "/p", uint32(i), n)
		frames = append(frames, bytes.Repeat([]byte{byte(i + 'a')}, n)...)
	}
	f.Add(byte(0), frames)
	f.Add(byte(200), frames)
	f.Fuzz(func(t *testing.T, chunk byte, in []byte) {
		var r io.Reader = bytes.NewReader(in)
		if chunk > 0 {
			r = chunkReader{r, int(chunk)}
		}
		fr := newFrameReader(r, 4096)
		off := 0
		type kept struct {
			data []byte
			off  int
		}
		var payloads []kept
		defer func() {
			for _, p := range payloads {
				if !bytes.Equal(p.data, in[p.off:p.off+len(p.data)]) {
					t.Fatalf("payload at %d changed by later reads", p.off)
				}
			}
		}()
		for range 64 {
			h, err := fr.readHeader()
			if err != nil {
				if !errors.Is(err, ErrProtocol) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			enc := appendHeader(nil, h.Status, string(h.Path), h.Channel, int(h.Length))
			if !bytes.Equal(enc, in[off:off+len(enc)]) {
				t.Fatalf("header %+v re-encodes to %q, consumed %q", h, enc, in[off:off+len(enc)])
			}
			off += len(enc)
			if int(h.Length) > len(in)-off {
				if err := fr.discard(int(h.Length)); err == nil {
					t.Fatalf("discarded %d bytes of %d left", h.Length, len(in)-off)
				}
				return
			}
			data, err := fr.readPayload(int(h.Length))
			if err != nil {
				t.Fatalf("payload of %d bytes with %d left: %v", h.Length, len(in)-off, err)
			}
			if !bytes.Equal(data, in[off:off+len(data)]) {
				t.Fatalf("payload at %d differs from the input", off)
			}
			payloads = append(payloads, kept{data, off})
			off += int(h.Length)
		}
	})
}

// FuzzServerConn serves arbitrary bytes as one connection: the server must
// not panic or hang, and must end the connection when the input ends.
func FuzzServerConn(f *testing.F) {
	f.Add([]byte("\x01/echo\x00\x00\x00\x00\x00\x00\x00\x00\x02{}"))
	s := newServerT(f, WithConfig(Config{MaxMessageSize: 1 << 20}), WithLogger(quietLogger()), WithLimits(Limits{MaxChannels: 4}))
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
