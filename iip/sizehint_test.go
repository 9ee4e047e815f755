package iip

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// TestSizeHintRoundTrip: with frames of 4 KiB and windows of two frames
// every size of message around a frame boundary, a streamed response
// (read whole and chunk by chunk) and a streaming request handler come
// through intact once "size-hint" and "window" hold, no frame the server
// reads passes the frame size, and the client acknowledged the server's
// frames (each side's reader fails the connection when the other sends
// past its window).
func TestSizeHintRoundTrip(t *testing.T) {
	s, addr, seen := hookedServer(t, WithConfig(Config{FrameSize: MinFrameSize, Window: 2 * MinFrameSize}))
	s.HandleStreamResponse("/download", func(ctx context.Context, r *Request, w *StreamWriter) error {
		for _, n := range []int{1, MinFrameSize, 3 * MinFrameSize} {
			if _, err := w.Write(pattern(n)); err != nil {
				return err
			}
		}
		return nil
	})
	s.HandleStream("/upload", func(ctx context.Context, r *StreamRequest) ([]byte, error) {
		var all []byte
		for {
			b, err := r.Next(ctx)
			if errors.Is(err, io.EOF) {
				return all, nil
			}
			if err != nil {
				return nil, err
			}
			all = append(all, b...)
		}
	})
	c := dialT(t, addr, WithConfig(Config{FrameSize: MinFrameSize, Window: 2 * MinFrameSize}))
	if caps := strings.Join(c.acceptedCaps(), ","); !strings.Contains(caps, capSizeHint) || !strings.Contains(caps, capWindow) {
		t.Fatalf("caps %s lack %s or %s", caps, capSizeHint, capWindow)
	}
	ch, err := c.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, MinFrameSize - 6, MinFrameSize - 5, MinFrameSize - 4, MinFrameSize, MinFrameSize + 1, 8*MinFrameSize + 3, 100_000, 1 << 20} {
		for _, path := range []string{"/echo", "/upload"} {
			data := pattern(n)
			got, err := ch.Do(testCtx(t), path, data)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s of %d bytes: %d bytes back, %v", path, n, len(got), err)
			}
		}
	}
	want := append(append(pattern(1), pattern(MinFrameSize)...), pattern(3*MinFrameSize)...)
	got, err := ch.Do(testCtx(t), "/download", nil)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("streamed response read whole: %d bytes, %v", len(got), err)
	}
	st, err := ch.DoStream(testCtx(t), "/download", nil)
	if err != nil {
		t.Fatal(err)
	}
	var chunks []byte
	for {
		b, err := st.Next(testCtx(t))
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, b...)
	}
	if !bytes.Equal(chunks, want) {
		t.Fatalf("streamed response chunk by chunk: %d bytes, want %d", len(chunks), len(want))
	}
	acks := 0
	for {
		select {
		case f := <-seen:
			if f.n > MinFrameSize {
				t.Fatalf("frame %+v over the %d-byte frame size", f, MinFrameSize)
			}
			if f.path == pathWindow {
				acks++
			}
			continue
		default:
		}
		break
	}
	if acks == 0 {
		t.Fatalf("the client sent no %s", pathWindow)
	}
}

// hintServer is a hand-written server that accepts size-hint (and
// typed-errors, frame-size 4096), reads one request of several frames on
// channel 1 and reports the hint its first frame carried, then answers
// with the frames reply returns.
func hintServer(t *testing.T, reply func(req []byte) [][]byte) (string, <-chan uint32) {
	t.Helper()
	hints := make(chan uint32, 1)
	addr := rawServer(t, func(r *rawConn) {
		f, err := r.read()
		if err != nil {
			return
		}
		_, _ = r.c.Write(rawFrame(5, f.path, f.ch, `{"code":0,"channel_id":1,"caps":["typed-errors","size-hint","frame-size"],"frame_size":4096}`))
		var req []byte
		for {
			f, err := r.read()
			if err != nil {
				return
			}
			d := []byte(f.data)
			if f.status == byte(statusRequestFirst) {
				hints <- binary.BigEndian.Uint32(d)
				d = d[sizeHintLen:]
			}
			req = append(req, d...)
			if f.status == byte(statusRequestContinueLast) || f.status == byte(statusRequest) {
				for _, fr := range reply(req) {
					if _, err := r.c.Write(fr); err != nil {
						return
					}
				}
				req = nil
			}
		}
	})
	return addr, hints
}

// hintFrames splits a typed response (marker 0 + data) into frames of at
// most 4096 data bytes whose first announces announce.
func hintFrames(data []byte, announce uint32) [][]byte {
	first := binary.BigEndian.AppendUint32(nil, announce)
	first = append(first, dataMarkerOK)
	n := 4096 - len(first)
	first = append(first, data[:n]...)
	out := [][]byte{rawFrame(byte(statusResponseFirst), "/echo", 1, string(first))}
	for rest := data[n:]; len(rest) > 0; {
		m := min(4096, len(rest))
		st := statusResponseContinue
		if m == len(rest) {
			st = statusResponseContinueEnd
		}
		out = append(out, rawFrame(byte(st), "/echo", 1, string(rest[:m])))
		rest = rest[m:]
	}
	return out
}

// TestSizeHintOnTheWire: our client announces a request's size (its data
// length, the hint apart) in its first frame, reads a response whose
// first frame announces its size, and fails the connection with a
// protocol error when the response carries more than it announced.
func TestSizeHintOnTheWire(t *testing.T) {
	data := pattern(10_000)
	addr, hints := hintServer(t, func(req []byte) [][]byte {
		announce := uint32(len(req) + 1) // marker included
		if bytes.HasPrefix(req, []byte("lie")) {
			announce -= 100
		}
		return hintFrames(req, announce)
	})
	c := dialT(t, addr, WithConfig(Config{FrameSize: MinFrameSize}))
	ch, err := c.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ch.Do(testCtx(t), "/echo", data)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("echo: %d bytes back, %v", len(got), err)
	}
	if h := <-hints; h != uint32(len(data)) {
		t.Fatalf("request announced %d bytes, want %d", h, len(data))
	}
	lie := append([]byte("lie"), data...)
	_, err = ch.Do(testCtx(t), "/echo", lie)
	if !errors.Is(err, ErrConnLost) || !strings.Contains(err.Error(), "announced") {
		t.Fatalf("response longer than announced: %v, want a lost connection naming the announced size", err)
	}
}

// TestHostileSizeHint: a client that negotiated size-hint and lies with
// it loses its connection with a protocol error, and one that announces
// the largest size without sending it makes the server allocate only what
// arrived.
func TestHostileSizeHint(t *testing.T) {
	negotiate := func(t *testing.T, addr string) *rawConn {
		r := rawDial(t, addr)
		r.send(rawFrame(byte(statusRequest), pathNewChannel, 0, `{"caps":["size-hint"]}`))
		r.expect(rawResp{byte(statusResponse), pathNewChannel, 0, `{"code":0,"channel_id":1,"caps":["size-hint"]}`})
		return r
	}
	hinted := func(announce uint32, data string) string {
		return string(binary.BigEndian.AppendUint32(nil, announce)) + data
	}
	_, addr := echoServer(t)
	for _, tc := range []struct {
		name   string
		frames [][]byte
	}{
		{"hint without data", [][]byte{rawFrame(byte(statusRequestFirst), "/echo", 1, hinted(10, ""))}},
		{"hint cut short", [][]byte{rawFrame(byte(statusRequestFirst), "/echo", 1, "\x00\x00")}},
		{"announces no more than the first frame", [][]byte{rawFrame(byte(statusRequestFirst), "/echo", 1, hinted(4, "abcd"))}},
		{"carries more than announced", [][]byte{
			rawFrame(byte(statusRequestFirst), "/echo", 1, hinted(10, "abcde")),
			rawFrame(byte(statusRequestContinue), "/echo", 1, "fghij"),
			rawFrame(byte(statusRequestContinueLast), "/echo", 1, "k"),
		}},
		{"ends short of what it announced", [][]byte{
			rawFrame(byte(statusRequestFirst), "/echo", 1, hinted(10, "abcde")),
			rawFrame(byte(statusRequestContinueLast), "/echo", 1, "fgh"),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := negotiate(t, addr)
			for _, f := range tc.frames {
				r.send(f)
			}
			r.expectClosed()
		})
	}
	t.Run("honest", func(t *testing.T) {
		r := negotiate(t, addr)
		r.send(rawFrame(byte(statusRequestFirst), "/echo", 1, hinted(10, "abcde")))
		r.send(rawFrame(byte(statusRequestContinueLast), "/echo", 1, "fghij"))
		r.expect(rawResp{byte(statusResponse), "/echo", 1, "abcdefghij"})
	})
	t.Run("server announces its response", func(t *testing.T) {
		r := rawDial(t, addr)
		r.send(rawFrame(byte(statusRequest), pathNewChannel, 0, `{"caps":["size-hint","frame-size"],"frame_size":4096}`))
		r.expect(rawResp{byte(statusResponse), pathNewChannel, 0, `{"code":0,"channel_id":1,"caps":["size-hint","frame-size"],"frame_size":4096}`})
		data := strings.Repeat("d", 10_000)
		r.send(rawFrame(byte(statusRequest), "/echo", 1, data))
		var got string
		for i := 0; ; i++ {
			f, err := r.read()
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				if f.status != byte(statusResponseFirst) || len(f.data) != 4096 || binary.BigEndian.Uint32([]byte(f.data)) != uint32(len(data)) {
					t.Fatalf("first frame: status %d, %d bytes, starting %q; want status 4 of 4096 bytes announcing %d", f.status, len(f.data), f.data[:4], len(data))
				}
				f.data = f.data[sizeHintLen:]
			}
			got += f.data
			if f.status == byte(statusResponseContinueEnd) {
				break
			}
		}
		if got != data {
			t.Fatalf("echo of %d bytes came back as %d", len(data), len(got))
		}
	})
	t.Run("over the maximum message size", func(t *testing.T) {
		const limit = 1 << 20
		_, small := echoServer(t, WithConfig(Config{MaxMessageSize: limit}))
		r := negotiate(t, small)
		r.send(rawFrame(byte(statusRequestFirst), "/echo", 1, hinted(limit+1, "abcde")))
		for rest := limit + 1 - 5; rest > 0; {
			n, st := min(rest, MaxFrameData), statusRequestContinue
			if n == rest {
				st = statusRequestContinueLast
			}
			r.send(rawFrame(byte(st), "/echo", 1, strings.Repeat("x", n)))
			rest -= n
		}
		f, err := r.read()
		if err != nil || f.ch != 1 || !strings.Contains(f.data, "exceeds limit") {
			t.Fatalf("answer %.100q, %v: want an error that the request exceeds the limit", f.data, err)
		}
	})
	t.Run("announced and not sent", func(t *testing.T) {
		// 64 channels each announce the largest request and send two
		// frames of 4 KiB: the server holds what arrived (and its geometric
		// growth), not 64 x 64 MiB.
		const chans = 64
		r := negotiate(t, addr)
		for range chans - 1 {
			r.send(rawFrame(byte(statusRequest), pathNewChannel, 0, "{}"))
		}
		for range chans - 1 {
			if f, err := r.read(); err != nil || !strings.Contains(f.data, "channel_id") {
				t.Fatalf("new_channel: %+v, %v", f, err)
			}
		}
		base := heapBytes()
		part := strings.Repeat("p", 4<<10)
		for ch := uint32(1); ch <= chans; ch++ {
			r.send(rawFrame(byte(statusRequestFirst), "/echo", ch, hinted(DefaultMaxMessageSize, part)))
			r.send(rawFrame(byte(statusRequestContinue), "/echo", ch, part))
		}
		// Every channel is mid-request: the answer to a /sys/ request on
		// channel 0 shows that the server read all the frames before it.
		r.send(rawFrame(byte(statusRequest), pathPathCount, 0, "{}"))
		if f, err := r.read(); err != nil || f.path != pathPathCount {
			t.Fatalf("path count: %+v, %v", f, err)
		}
		checkHeap(t, fmt.Sprintf("%d channels announcing %d MiB each", chans, DefaultMaxMessageSize>>20), base, 8<<20)
	})
}
