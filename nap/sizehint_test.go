package nap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/seed857a6cbd/pocket/nap/internal/testkit"
)

// hintSettings is a client SETTINGS frame that announces SIZE_HINTS.
func hintSettings(streamWindow, connWindow uint32) []byte {
	p := []byte{0, 1}
	for _, kv := range [][2]uint32{{1, 64 << 10}, {2, 4 << 20}, {3, 1024}, {4, streamWindow}, {5, connWindow}, {6, 1}} {
		p = binary.BigEndian.AppendUint16(p, uint16(kv[0]))
		p = binary.BigEndian.AppendUint32(p, kv[1])
	}
	return rawFrame(0x2, 0, 0, p)
}

// sizedFrame is the first DATA frame of a message of total bytes, with flag SIZE.
func sizedFrame(id uint32, total int, fragment []byte) []byte {
	p := binary.BigEndian.AppendUint32(nil, uint32(total))
	return rawFrame(0, flagDataMore|flagDataSize, id, append(p, fragment...))
}

// hintPeer returns a hand-written peer that announced SIZE_HINTS to a nap
// server with the default configuration, past the server's SETTINGS, and the
// server's session.
func hintPeer(t *testing.T) (*rawPeer, *Session) {
	t.Helper()
	ln := listenT(t, nil)
	p := dialRaw(t, ln)
	s := acceptT(t, ln)
	p.write(hintSettings(1<<20, 4<<20))
	if f := p.mustRead(); f.typ != 0x2 {
		t.Fatalf("first server frame type %d, want SETTINGS", f.typ)
	}
	return p, s
}

// TestSizeHintAssemblesOneBuffer: a message of several frames whose first
// frame announces its size is assembled in one pooled buffer of exactly the
// class of that size, between nap peers (the sender announces, the receiver
// reads the hint) and from a hand-written peer, with and without early
// credit (a message larger than the stream window).
func TestSizeHintAssemblesOneBuffer(t *testing.T) {
	for _, size := range []int{100 << 10, 3<<20 + 7} {
		c, s := pair(t, nil, nil)
		ctx := testCtx(t)
		payload := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		st, err := c.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sent := make(chan error, 1)
		go func() { sent <- st.SendAndClose(payload) }()
		sst, err := s.AcceptStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m, err := sst.Recv()
		if err != nil || !bytes.Equal(m, payload) {
			t.Fatalf("%d bytes: received %d bytes, %v", size, len(m), err)
		}
		if want := classSize(classFor(size)); cap(m) != want {
			t.Fatalf("%d bytes assembled in a buffer of capacity %d, want the class of the announced size, %d", size, cap(m), want)
		}
		sst.Release(m)
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
	}

	// By hand: 200 KiB in four frames, inside the stream window.
	p, s := hintPeer(t)
	const total = 200 << 10
	msg := bytes.Repeat([]byte{'h'}, total)
	q := 50 << 10
	p.write(sizedFrame(1, total, msg[:q]), dataFrame(1, flagDataMore, msg[q:2*q]),
		dataFrame(1, flagDataMore, msg[2*q:3*q]), dataFrame(1, flagDataEnd, msg[3*q:]))
	sst, err := s.AcceptStream(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	m, err := sst.Recv()
	if err != nil || !bytes.Equal(m, msg) {
		t.Fatalf("hand-written sized message: %d bytes, %v", len(m), err)
	}
	if want := classSize(classFor(total)); cap(m) != want {
		t.Fatalf("hand-written sized message in a buffer of capacity %d, want %d", cap(m), want)
	}
}

// TestSizeHintSmallRestTakenAtOnce: a first frame of 64 KiB of a message
// announced a few bytes larger (a 64 KiB payload in an RPC envelope) makes
// the receiver take the whole message's buffer at once, since the rest is
// within sizeHintPrealloc: the last frame's bytes do not move the first
// 64 KiB into a second buffer.
func TestSizeHintSmallRestTakenAtOnce(t *testing.T) {
	p, s := hintPeer(t)
	const total = 64<<10 + 100
	msg := bytes.Repeat([]byte{'r'}, total)
	first := DefaultMaxFrameSize - sizeHintLen
	p.write(sizedFrame(1, total, msg[:first]), pingFrame())
	for f := p.mustRead(); f.typ != 0x1 || f.flags&0x1 == 0; f = p.mustRead() {
	} // the PING's ACK: the first frame is in
	sst, err := s.AcceptStream(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	held := sst.partialCap
	s.mu.Unlock()
	if want := classSize(classFor(total)); held != want {
		t.Fatalf("after the first %d bytes of a %d-byte message the receiver holds a buffer of %d, want the whole message's class %d", first, total, held, want)
	}
	p.write(dataFrame(1, flagDataEnd, msg[first:]))
	m, err := sst.Recv()
	if err != nil || !bytes.Equal(m, msg) {
		t.Fatalf("received %d bytes, %v", len(m), err)
	}
}

// TestSizeHintOnTheWire: a nap sender puts flag SIZE and the message size on
// the first frame of a message of several frames, only toward a peer that
// announced SIZE_HINTS, and flow control counts the 4 bytes.
func TestSizeHintOnTheWire(t *testing.T) {
	for _, hints := range []bool{true, false} {
		ln := listenT(t, nil)
		p := dialRaw(t, ln)
		s := acceptT(t, ln)
		if hints {
			p.write(hintSettings(1<<20, 4<<20))
		} else {
			p.write(settingsFrame(1<<20, 4<<20))
		}
		p.mustRead() // SETTINGS
		p.write(dataFrame(1, 0, []byte("ask")))
		sst, err := s.AcceptStream(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		const total = 150 << 10
		go sst.SendAndClose(bytes.Repeat([]byte{'r'}, total))
		got, first := 0, true
		for got < total {
			f := p.mustRead()
			if f.typ != 0 {
				continue
			}
			frag := f.payload
			if first {
				if sized := f.flags&flagDataSize != 0; sized != hints {
					t.Fatalf("hints %v: first frame flags 0x%x", hints, f.flags)
				}
				if hints {
					if n := binary.BigEndian.Uint32(frag); n != total {
						t.Fatalf("announced size %d, want %d", n, total)
					}
					frag = frag[sizeHintLen:]
				}
				first = false
			} else if f.flags&flagDataSize != 0 {
				t.Fatalf("flag SIZE on a later frame (flags 0x%x)", f.flags)
			}
			got += len(frag)
		}
		if got != total {
			t.Fatalf("received %d message bytes, want %d", got, total)
		}
	}
}

// TestHostileSizeHints: what a peer announces is checked. A size over
// MaxMessageSize resets the stream (MESSAGE_TOO_LARGE) before anything is
// allocated for it and the connection lives; a message longer or shorter
// than announced, a second announcement in the middle of a message, or
// flag SIZE toward a receiver that did not announce SIZE_HINTS are
// connection errors; a peer that announces the largest size on many streams
// and sends one fragment makes the server allocate no more than what it may
// send on each (the window), within the connection budget.
func TestHostileSizeHints(t *testing.T) {
	frag := bytes.Repeat([]byte{'x'}, 1024)
	t.Run("too large", func(t *testing.T) {
		ln := listenT(t, &Config{MaxMessageSize: 1 << 20})
		p := dialRaw(t, ln)
		s := acceptT(t, ln)
		p.write(hintSettings(1<<20, 4<<20), sizedFrame(1, 1<<20+1, frag))
		p.mustRead() // SETTINGS
		f := p.mustRead()
		if f.typ != 0x4 || ErrorCode(binary.BigEndian.Uint32(f.payload)) != CodeMessageTooLarge {
			t.Fatalf("frame type %d payload % x, want RST_STREAM MESSAGE_TOO_LARGE", f.typ, f.payload)
		}
		// The rest of the message is discarded, the connection lives.
		p.write(dataFrame(1, flagDataEnd, frag), dataFrame(3, flagDataEnd, []byte("next")))
		for {
			sst, err := s.AcceptStream(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			m, err := sst.Recv()
			if sst.ID() == 1 {
				if !errors.Is(err, ErrMessageTooLarge) {
					t.Fatalf("stream 1 Recv: %v, want ErrMessageTooLarge", err)
				}
				continue
			}
			if err != nil || string(m) != "next" {
				t.Fatalf("next stream after the refused size: %q, %v", m, err)
			}
			break
		}
	})
	protocolCases := []struct {
		name   string
		cfg    *Config
		frames [][]byte
		want   string
	}{
		{"longer than announced", nil, [][]byte{sizedFrame(1, 2048, frag), dataFrame(1, flagDataEnd, bytes.Repeat(frag, 2))}, "longer or shorter"},
		{"shorter than announced", nil, [][]byte{sizedFrame(1, 4096, frag), dataFrame(1, flagDataEnd, frag)}, "longer or shorter"},
		{"announced below its fragment", nil, [][]byte{sizedFrame(1, 10, frag)}, "announces a message of 10 bytes"},
		{"second announcement", nil, [][]byte{sizedFrame(1, 4096, frag), sizedFrame(1, 4096, frag)}, "in the middle of a message"},
		{"not announced by the receiver", &Config{disableSizeHints: true}, [][]byte{sizedFrame(1, 4096, frag)}, "did not announce"},
	}
	for _, tc := range protocolCases {
		t.Run(tc.name, func(t *testing.T) {
			ln := listenT(t, tc.cfg)
			p := dialRaw(t, ln)
			s := acceptT(t, ln)
			p.write(append([][]byte{hintSettings(1<<20, 4<<20)}, tc.frames...)...)
			var debug string
			for _, f := range p.readUntilClosed() {
				if f.typ == 0x5 && len(f.payload) >= 8 {
					debug = string(f.payload[8:])
				}
			}
			waitDone(t, s)
			if !errors.Is(s.Err(), ErrProtocol) || !strings.Contains(debug, tc.want) {
				t.Fatalf("session error %v, GOAWAY debug %q, want a protocol error %q", s.Err(), debug, tc.want)
			}
		})
	}
	for _, eager := range []bool{false, true} {
		t.Run(fmt.Sprintf("largest size announced to waiting readers/EagerCredit=%v", eager), func(t *testing.T) {
			// The handlers wait in Recv: each stream's announced 4 MiB is taken
			// only while the connection has room for it (SizeHintCredit), the
			// others grow by what their window lets the peer send. With
			// EagerCredit the streams are credited at their first frame, on the
			// same terms: the bound is the same.
			const streams = 30 // 30 x 122 KiB: within the 4 MiB connection window
			hs := startHostileServer(t, &Config{EagerCredit: eager}, func(st *Stream, _ []byte) { <-st.Context().Done() })
			base := heapLive()
			a := dialAttacker(t, hs.ln.Addr().String())
			a.write(hintSettings(1<<20, 4<<20))
			if f, err := a.read(testTimeout); err != nil || f.typ != 0x2 {
				t.Fatalf("server SETTINGS: %+v, %v", f, err)
			}
			go func() { // drain what the server sends (WINDOW_UPDATEs) until it closes us
				for {
					if _, err := a.read(testTimeout); err != nil {
						return
					}
				}
			}()
			chunk := bytes.Repeat([]byte{'y'}, 60<<10)
			var frames [][]byte
			for i := 0; i < streams; i++ {
				frames = append(frames, sizedFrame(uint32(2*i+1), DefaultMaxMessageSize, frag))
			}
			if err := a.write(frames...); err != nil {
				t.Fatal(err)
			}
			s := hs.serverSession(t, 1)
			testkit.WaitFor(t, testCtx(t), "handlers waiting", func() bool {
				s.mu.Lock()
				defer s.mu.Unlock()
				n := 0
				for _, st := range s.streams {
					if st.recvWaiting {
						n++
					}
				}
				return n == streams
			})
			frames = frames[:0]
			for i := 0; i < streams; i++ { // 121 KiB in all: past sizeHintPrealloc
				frames = append(frames, dataFrame(uint32(2*i+1), flagDataMore, chunk), dataFrame(uint32(2*i+1), flagDataMore, chunk))
			}
			if err := a.write(frames...); err != nil {
				t.Fatal(err)
			}
			var held int64
			testkit.WaitFor(t, testCtx(t), "the second fragments", func() bool {
				s.mu.Lock()
				defer s.mu.Unlock()
				held = s.held
				n := 0
				for _, st := range s.streams {
					if st.partialLen == len(frag)+2*len(chunk) || st.err != nil { // complete, or shed
						n++
					}
				}
				return n == streams && s.readingInto == nil
			})
			limit := int64(DefaultMaxConnBuffered/2) + streams*int64(classSize(classFor(len(frag)+2*len(chunk)+DefaultStreamWindow)))
			if held > limit {
				t.Fatalf("%d waiting streams announcing 4 MiB with 121 KiB each make the server hold %d bytes, want at most %d", streams, held, limit)
			}
			t.Logf("%d waiting streams announcing 4 MiB with 121 KiB each: server holds %d bytes", streams, held)
			hs.goodCalls(t, 20)
			memBudget(t, "size hints of 4 MiB to waiting readers", base, 32<<20)
		})
	}
	t.Run("largest size announced on many streams", func(t *testing.T) {
		const streams = 40
		hs := startHostileServer(t, nil, func(st *Stream, _ []byte) { <-st.Context().Done() })
		base := heapLive()
		a := dialAttacker(t, hs.ln.Addr().String())
		a.write(hintSettings(1<<20, 4<<20))
		if f, err := a.read(testTimeout); err != nil || f.typ != 0x2 {
			t.Fatalf("server SETTINGS: %+v, %v", f, err)
		}
		var frames [][]byte
		for i := 0; i < streams; i++ {
			frames = append(frames, sizedFrame(uint32(2*i+1), DefaultMaxMessageSize, frag))
		}
		if err := a.write(frames...); err != nil {
			t.Fatal(err)
		}
		s := hs.serverSession(t, 1)
		var held int64
		testkit.WaitFor(t, testCtx(t), "the streams' first fragments", func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			held = s.held
			return s.numPeer >= streams && s.readingInto == nil
		})
		// Each stream holds sizeHintPrealloc, not the 4 MiB announced.
		if limit := int64(streams) * sizeHintPrealloc; held > limit {
			t.Fatalf("%d streams announcing %d bytes each make the server hold %d bytes, want at most %d", streams, DefaultMaxMessageSize, held, limit)
		}
		t.Logf("%d streams announcing 4 MiB with one 1 KiB fragment each: server holds %d bytes", streams, held)
		hs.goodCalls(t, 20)
		memBudget(t, "size hints of 4 MiB", base, 8<<20)
	})
}

// TestSendV: head + body arrive as one message whatever the split (head or
// body empty, a frame spanning both, both larger than a frame), on plain TCP
// (vectored writes) and with size hints on and off.
func TestSendV(t *testing.T) {
	for _, hints := range []bool{true, false} {
		cfg := &Config{disableSizeHints: !hints}
		c, _ := echoPair(t, cfg, cfg)
		ctx := testCtx(t)
		for _, sz := range [][2]int{{10, 200 << 10}, {100 << 10, 50 << 10}, {0, 70 << 10}, {70 << 10, 0}, {3, 5}, {64<<10 - 4, 64<<10 + 4}} {
			head := bytes.Repeat([]byte{'h'}, sz[0])
			body := bytes.Repeat([]byte{'b'}, sz[1])
			st, err := c.OpenStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.SendAndCloseV(head, body); err != nil {
				t.Fatal(err)
			}
			m, err := st.Recv()
			if err != nil || !bytes.Equal(m, append(head, body...)) {
				t.Fatalf("hints %v, head %d + body %d: echo of %d bytes, %v", hints, sz[0], sz[1], len(m), err)
			}
			st.Release(m)
			st.Close()
		}
	}
}

// TestSizeHintCredit: once a Recv waits for a message announced larger than
// the stream window, the receiver credits the rest of the message at once,
// unless SizeHintCredit is negative or the connection's budget has no room
// for it; a stream nobody reads keeps its window; the window is back to its
// size once the message is read.
func TestSizeHintCredit(t *testing.T) {
	const total = 1 << 20
	frag := bytes.Repeat([]byte{'c'}, 1024)
	// credited returns the credit the server gave stream 1 once the message's
	// first frame is in, with a Recv waiting for it when recv is set.
	credited := func(cfg *Config, recv bool) (sum int, s *Session, sst *Stream, p *rawPeer, got chan []byte) {
		ln := listenT(t, cfg)
		p = dialRaw(t, ln)
		s = acceptT(t, ln)
		p.write(hintSettings(1<<20, 4<<20), sizedFrame(1, total, frag))
		sst, err := s.AcceptStream(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		got = make(chan []byte, 1)
		if recv {
			go func() {
				m, _ := sst.Recv()
				got <- m
			}()
			testkit.WaitFor(t, testCtx(t), "Recv waiting", func() bool {
				s.mu.Lock()
				defer s.mu.Unlock()
				return sst.recvWaiting
			})
		}
		p.write(pingFrame())
		for {
			f := p.mustRead()
			if f.typ == 0x1 && f.flags&0x1 != 0 { // our PING's ACK: every update before it is in
				return sum, s, sst, p, got
			}
			if f.typ == 0x3 && f.stream == 1 {
				sum += int(binary.BigEndian.Uint32(f.payload))
			}
		}
	}
	// Everything but the first fragment (and what the window already allows),
	// plus the hint's 4 bytes: the whole message may now be sent.
	want := total - DefaultStreamWindow + sizeHintLen
	sum, s, sst, p, got := credited(nil, true)
	if sum != want {
		t.Fatalf("stream credit with a Recv waiting for the announced message: %d, want %d", sum, want)
	}
	rest := bytes.Repeat([]byte{'c'}, total-len(frag))
	for len(rest) > 64<<10 {
		p.write(dataFrame(1, flagDataMore, rest[:64<<10]))
		rest = rest[64<<10:]
	}
	p.write(dataFrame(1, 0, rest)) // no END_STREAM: the stream is credited on Recv
	if m := <-got; len(m) != total {
		t.Fatalf("announced message: %d bytes", len(m))
	}
	s.mu.Lock()
	win := sst.recvWindow + sst.credit
	s.mu.Unlock()
	if win != DefaultStreamWindow {
		t.Fatalf("stream window after the message was read: %d (+ credit due), want %d", win, DefaultStreamWindow)
	}

	if sum, _, _, _, _ := credited(nil, false); sum != 0 {
		t.Fatalf("stream credit with nobody reading: %d, want 0", sum)
	}
	for _, cfg := range []*Config{{SizeHintCredit: -1}, {SizeHintCredit: 512 << 10}} {
		// Early credit of what arrived (1 KiB + the hint) only.
		if sum, _, _, _, _ := credited(cfg, true); sum != len(frag)+sizeHintLen {
			t.Fatalf("SizeHintCredit %d: stream credit %d, want %d", cfg.SizeHintCredit, sum, len(frag)+sizeHintLen)
		}
	}
}

// TestEagerCredit: with Config.EagerCredit, the first message of a stream the
// peer opens is credited as soon as its first frame (with a size hint) is in,
// before the stream is accepted or read, within SizeHintCredit; the read loop
// then yields to the writer. A later message of the same stream that nobody
// reads keeps the window, and the window is back to its size once the
// message is read. Without the option nothing is credited before a Recv.
func TestEagerCredit(t *testing.T) {
	const total = 1 << 20
	frag := bytes.Repeat([]byte{'e'}, 1024)
	// credits returns the stream credit the server sent for stream 1 up to the
	// ACK of a PING written after the frames.
	credits := func(p *rawPeer, frames ...[]byte) int {
		p.write(append(frames, pingFrame())...)
		sum := 0
		for {
			f := p.mustRead()
			if f.typ == 0x1 && f.flags&0x1 != 0 { // our PING's ACK: every update before it is in
				return sum
			}
			if f.typ == 0x3 && f.stream == 1 {
				sum += int(binary.BigEndian.Uint32(f.payload))
			}
		}
	}
	// The rest of the first message in frames of 64 KiB, the last one
	// without END_STREAM (so that the stream stays open and is credited).
	rest := func() [][]byte {
		var frames [][]byte
		r := bytes.Repeat([]byte{'e'}, total-len(frag))
		for len(r) > 64<<10 {
			frames = append(frames, dataFrame(1, flagDataMore, r[:64<<10]))
			r = r[64<<10:]
		}
		return append(frames, dataFrame(1, 0, r))
	}
	cases := []struct {
		name  string
		cfg   *Config
		want  int // credit before the stream is accepted
		yield bool
	}{
		{"off", nil, 0, false},
		{"on", &Config{EagerCredit: true}, total - DefaultStreamWindow + sizeHintLen, true},
		// The connection may not promise the message: nothing in advance.
		{"on/no room", &Config{EagerCredit: true, SizeHintCredit: 512 << 10}, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln := listenT(t, tc.cfg)
			p := dialRaw(t, ln)
			s := acceptT(t, ln)
			p.write(hintSettings(1<<20, 4<<20))
			if got := credits(p, sizedFrame(1, total, frag)); got != tc.want {
				t.Fatalf("credit before the stream is accepted: %d, want %d", got, tc.want)
			}
			if y := s.creditYields.Load(); (y != 0) != tc.yield {
				t.Fatalf("read loop yields to the writer: %d, want them: %v", y, tc.yield)
			}
			sst, err := s.AcceptStream(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == 0 {
				// Without a credit in advance the rest comes as the reader asks
				// for it: a Recv credits what arrived and the announced rest.
				go func() { p.write(rest()...) }()
			} else {
				p.write(rest()...)
			}
			m, err := sst.Recv()
			if err != nil || len(m) != total || !bytes.Equal(m[:len(frag)], frag) {
				t.Fatalf("message: %d bytes, %v", len(m), err)
			}
			s.mu.Lock()
			win, promised := sst.recvWindow+sst.credit, s.promised
			s.mu.Unlock()
			if win != DefaultStreamWindow || promised != 0 {
				t.Fatalf("after the message was read: stream window %d (+ credit due), want %d; promised %d, want 0",
					win, DefaultStreamWindow, promised)
			}
			credits(p) // the credit for the message read
			// A second announced message on the stream: the application has it
			// open and does not read it, so it keeps its window.
			if got := credits(p, sizedFrame(1, total, frag)); got != 0 {
				t.Fatalf("credit for a later message nobody reads: %d, want 0", got)
			}
		})
	}
}

// TestEagerCreditEcho: echo calls of messages larger than the stream window
// between two nap peers with EagerCredit on both sides, at GOMAXPROCS 1 and
// 2, arrive intact, and the server's read loop took the eager path.
func TestEagerCreditEcho(t *testing.T) {
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			cfg := &Config{EagerCredit: true}
			c, s := echoPair(t, cfg, cfg)
			for i, size := range []int{256<<10 + 9, 1<<20 + 7, 3 << 20} {
				msg := bytes.Repeat([]byte{byte('a' + i)}, size)
				got, err := call(testCtx(t), c, msg)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("echo of %d bytes: %d bytes back, %v", size, len(got), err)
				}
			}
			if s.creditYields.Load() == 0 {
				t.Fatal("the server never credited a new stream's first message at once")
			}
		})
	}
}
