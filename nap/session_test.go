package nap

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/nap/internal/testkit"
)

func TestRoundTripSizes(t *testing.T) {
	c, _ := echoPair(t, nil, nil)
	ctx := testCtx(t)
	for _, n := range []int{0, 1, 1000, 64 << 10, 64<<10 + 1, 300000, 4 << 20} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			msg := bytes.Repeat([]byte{byte(n), 1, 2, 3, 5, 7, 11}, n/7+1)[:n]
			got, err := call(ctx, c, msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("echo of %d bytes differs (got %d bytes)", n, len(got))
			}
		})
	}
}

func TestStreamingBothWays(t *testing.T) {
	c, _ := echoPair(t, nil, nil)
	st, err := c.OpenStream(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := 0; i < 100; i++ {
		if err := st.Send([]byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if err := st.CloseSend(); !errors.Is(err, ErrStreamClosed) {
		t.Fatalf("second CloseSend = %v, want ErrStreamClosed", err)
	}
	for i := 0; i < 100; i++ {
		m, err := st.Recv()
		if err != nil || string(m) != fmt.Sprint(i) {
			t.Fatalf("message %d = %q, %v", i, m, err)
		}
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("Recv after the echo = %v, want io.EOF", err)
	}
	if st.ID() != 1 {
		t.Fatalf("first client stream ID = %d, want 1", st.ID())
	}
}

func TestServerOpensStreams(t *testing.T) {
	c, s := pair(t, nil, nil)
	done := serveEcho(c)
	defer func() { c.Close(); <-done }()
	ctx := testCtx(t)
	for i := 0; i < 3; i++ {
		st, err := s.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SendAndClose([]byte("from server")); err != nil {
			t.Fatal(err)
		}
		m, err := st.Recv()
		if err != nil || string(m) != "from server" {
			t.Fatalf("%q %v", m, err)
		}
		if st.ID() != uint32(2+2*i) {
			t.Fatalf("server stream ID %d, want %d", st.ID(), 2+2*i)
		}
	}
}

// --- 1. fair interleaving -------------------------------------------------

// gatedConn records what is written and can hold writes once a threshold is reached.
type gatedConn struct {
	net.Conn
	mu        sync.Mutex
	written   bytes.Buffer
	threshold int
	reached   chan struct{}
	gate      chan struct{}
	writes    atomic.Int64
}

func (g *gatedConn) Write(p []byte) (int, error) {
	g.writes.Add(1)
	g.mu.Lock()
	g.written.Write(p)
	n := g.written.Len()
	g.mu.Unlock()
	if g.threshold > 0 && n >= g.threshold {
		select {
		case <-g.reached:
		default:
			close(g.reached)
		}
		<-g.gate
	}
	return g.Conn.Write(p)
}

// dialWrapped connects a client through wrap to a fresh server.
func dialWrapped(t *testing.T, ccfg, scfg *Config, wrap func(net.Conn) net.Conn) (*Session, *Session) {
	t.Helper()
	ln := listenT(t, scfg)
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := acceptT(t, ln)
	c, err := Client(wrap(raw), ccfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, s
}

// parseFrames splits a recorded byte stream into frame headers.
func parseFrames(b []byte) []frameHeader {
	var hs []frameHeader
	for len(b) >= headerSize {
		h := parseHeader(b)
		if uint64(len(b)) < headerSize+uint64(h.length) {
			break // the rest is still being written
		}
		hs = append(hs, h)
		b = b[headerSize+int(h.length):]
	}
	return hs
}

// TestFairInterleaving: a small call queued behind a bulk message waits for at most the
// batch being written plus one frame of the bulk stream. With MaxFrameSize 1 MiB on both
// sides the bulk stream alone sends 1 MiB frames, and 64 KiB ones (sharedFrameSize) once
// the small call waits.
func TestFairInterleaving(t *testing.T) {
	for _, frame := range []int{DefaultMaxFrameSize, 1 << 20} {
		t.Run(fmt.Sprintf("frame=%dKiB", frame>>10), func(t *testing.T) { testFairInterleaving(t, frame) })
	}
}

func testFairInterleaving(t *testing.T, frame int) {
	const bulkSize = 8 << 20
	big := &Config{MaxMessageSize: 32 << 20, StreamWindow: 32 << 20, ConnWindow: 64 << 20, MaxFrameSize: frame}
	g := &gatedConn{threshold: 1 << 20, reached: make(chan struct{}), gate: make(chan struct{})}
	c, s := dialWrapped(t, big, big, func(c net.Conn) net.Conn { g.Conn = c; return g })
	done := serveEcho(s)
	defer func() { s.Close(); <-done }()
	ctx := testCtx(t)

	bulk, err := c.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bulkDone := make(chan error, 1)
	go func() { bulkDone <- bulk.Send(make([]byte, bulkSize)) }()
	<-g.reached // 1 MiB of the bulk message is on the wire, the writer is held

	small, err := c.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	smallDone := make(chan error, 1)
	go func() { smallDone <- small.SendAndClose([]byte("small")) }()
	testkit.WaitFor(t, testCtx(t), "small stream queued", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return small.inReady || small.sentEnd
	})
	close(g.gate)
	if err := <-smallDone; err != nil {
		t.Fatal(err)
	}
	if m, err := small.Recv(); err != nil || string(m) != "small" {
		t.Fatalf("small call: %q %v", m, err)
	}
	if err := <-bulkDone; err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	recorded := bytes.Clone(g.written.Bytes())
	g.mu.Unlock()
	frames := parseFrames(recorded)
	var bulkBefore, bulkAfterGate int
	smallSeen := false
	for _, h := range frames {
		if h.typ != frameData {
			continue
		}
		if h.streamID == small.id {
			smallSeen = true
			break
		}
		if h.streamID == bulk.id {
			bulkBefore += int(h.length)
		}
	}
	if !smallSeen {
		t.Fatal("small request not found on the wire")
	}
	if bulkBefore >= bulkSize {
		t.Fatal("the small request waited for the whole bulk message")
	}
	bulkAfterGate = bulkBefore - (1 << 20)
	t.Logf("small request after %d bulk bytes (%d after the gate)", bulkBefore, bulkAfterGate)
	// At most the rest of the batch being written when the gate closed (frames up to
	// the batch budget; none with 1 MiB frames, where the gated write is the batch's only
	// frame) plus one shared frame: not one more MaxFrameSize frame.
	if limit := batchBudget + sharedFrameSize + writeBufSize; bulkAfterGate > limit {
		t.Fatalf("small request waited behind %d bulk bytes after it was queued (limit %d)", bulkAfterGate, limit)
	}
}

// --- 2. flow control --------------------------------------------------------

func TestStalledStreamsDoNotBlockOthers(t *testing.T) {
	// 8 stalled streams could hold 4 times the connection window: none of
	// them may block the other streams.
	const stalledN = 8
	cfg := &Config{StreamWindow: 64 << 10, ConnWindow: 128 << 10}
	c, s := pair(t, cfg, cfg)
	ctx := testCtx(t)
	stalledCh := make(chan *Stream, stalledN)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			st, err := s.AcceptStream(context.Background())
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				m, err := st.Recv()
				if err != nil {
					return
				}
				if string(m) == "stall" { // stop reading until the test says so
					stalledCh <- st
					return
				}
				st.SendAndClose(m)
			}()
		}
	}()
	defer func() { s.Close(); wg.Wait() }()

	const big = 1 << 20
	var stalled []*Stream
	sendDone := make(chan error, stalledN)
	for i := 0; i < stalledN; i++ {
		st, err := c.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send([]byte("stall")); err != nil {
			t.Fatal(err)
		}
		go func() { sendDone <- st.Send(make([]byte, big)) }() // far more than the windows
		stalled = append(stalled, st)
	}
	var sstalled []*Stream
	for i := 0; i < stalledN; i++ {
		sstalled = append(sstalled, <-stalledCh)
	}
	testkit.WaitFor(t, testCtx(t), "stream windows exhausted", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, st := range stalled {
			if !st.winBlocked {
				return false
			}
		}
		return true
	})
	for i := 0; i < 50; i++ {
		m, err := call(ctx, c, []byte("x"))
		if err != nil || string(m) != "x" {
			t.Fatalf("call %d while streams are stalled: %q %v", i, m, err)
		}
	}
	// What the peer made us hold is bounded by the stream windows.
	s.mu.Lock()
	for _, sst := range sstalled {
		held := sst.partialLen
		for _, m := range sst.queue {
			held += len(m)
		}
		if held > cfg.StreamWindow {
			s.mu.Unlock()
			t.Fatalf("server holds %d bytes for a stalled stream, window %d", held, cfg.StreamWindow)
		}
	}
	s.mu.Unlock()
	select {
	case err := <-sendDone:
		t.Fatalf("Send finished while its reader stalls: %v", err)
	default:
	}
	for _, sst := range sstalled { // reading releases the windows
		if m, err := sst.Recv(); err != nil || len(m) != big {
			t.Fatalf("stalled message: %d bytes, %v", len(m), err)
		}
	}
	for i := 0; i < stalledN; i++ {
		if err := <-sendDone; err != nil {
			t.Fatal(err)
		}
	}
}

func TestMessageLargerThanWindows(t *testing.T) {
	cfg := &Config{StreamWindow: 16 << 10, ConnWindow: 32 << 10, MaxMessageSize: 1 << 20}
	c, _ := echoPair(t, cfg, cfg)
	msg := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, 64x the stream window
	got, err := call(testCtx(t), c, msg)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("got %d bytes, %v", len(got), err)
	}
}

// --- 3. keepalive -----------------------------------------------------------

// rawServer accepts one TCP connection, answers the client handshake with
// hand-written SETTINGS (stream window 1 KiB) and returns the raw peer.
func rawServer(t *testing.T) (addr string, peer <-chan *rawPeer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan *rawPeer, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		p := &rawPeer{t: t, conn: conn}
		t.Cleanup(func() { conn.Close() })
		var h [10]byte
		if _, err := io.ReadFull(conn, h[:]); err != nil {
			return
		}
		io.CopyN(io.Discard, conn, int64(binary.BigEndian.Uint32(h[:])))
		settings := []byte{0, 1, 0, 4, 0, 0, 4, 0} // version 1, stream window 1024
		conn.Write(rawFrame(0x2, 0, 0, settings))
		ch <- p
	}()
	return ln.Addr().String(), ch
}

func TestKeepAliveFailsPendingCallsAtOnce(t *testing.T) {
	addr, peerCh := rawServer(t)
	const interval, timeout = 100 * time.Millisecond, 150 * time.Millisecond
	c, err := Dial(testCtx(t), "tcp", addr, &Config{KeepAliveInterval: interval, KeepAliveTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer := <-peerCh
	ctx := testCtx(t)
	// The peer reads everything and answers nothing.
	go io.Copy(io.Discard, peer.conn)

	start := time.Now()
	recvSt, _ := c.OpenStream(ctx)
	sendSt, _ := c.OpenStream(ctx)
	errs := make(chan error, 3)
	go func() {
		recvSt.Send([]byte("q"))
		_, err := recvSt.Recv()
		errs <- err
	}()
	go func() { errs <- sendSt.Send(make([]byte, 10000)) }() // blocked by the 1 KiB window
	go func() {
		_, err := c.AcceptStream(ctx)
		errs <- err
	}()
	for i := 0; i < 3; i++ {
		err := <-errs
		if !errors.Is(err, ErrKeepAliveTimeout) || !errors.Is(err, ErrSessionClosed) {
			t.Fatalf("pending call error = %v, want ErrKeepAliveTimeout and ErrSessionClosed", err)
		}
	}
	if d := time.Since(start); d > interval+timeout+2*time.Second {
		t.Fatalf("dead peer detected after %v, want about %v", d, interval+timeout)
	}
	if !strings.Contains(c.Err().Error(), "keepalive timeout") {
		t.Fatalf("Err = %v", c.Err())
	}
	// Context of a stream is cancelled with the cause.
	if cause := context.Cause(recvSt.Context()); !errors.Is(cause, ErrKeepAliveTimeout) {
		t.Fatalf("stream context cause = %v", cause)
	}
}

func TestKeepAliveKeepsHealthyIdleConnection(t *testing.T) {
	cfg := &Config{KeepAliveInterval: 20 * time.Millisecond, KeepAliveTimeout: 5 * time.Second}
	c, s := echoPair(t, cfg, cfg)
	testkit.WaitFor(t, testCtx(t), "five answered pings", func() bool {
		return c.pingAcks.Load()+s.pingAcks.Load() >= 5 || c.Err() != nil || s.Err() != nil
	})
	if c.Err() != nil || s.Err() != nil {
		t.Fatalf("idle healthy session closed: %v / %v", c.Err(), s.Err())
	}
}

// --- 4. graceful shutdown ---------------------------------------------------

func TestShutdownRawPeerSeesGoAwayAndRefusal(t *testing.T) {
	ln := listenT(t, nil)
	raw := dialRaw(t, ln)
	s := acceptT(t, ln)
	raw.write(rawSettings())
	if f := raw.mustRead(); f.typ != 0x2 {
		t.Fatalf("server's first frame type %d, want SETTINGS", f.typ)
	}
	raw.write(rawFrame(0, 0, 1, []byte("part1"))) // stream 1, message, not ended
	st, err := s.AcceptStream(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(testCtx(t)) }()
	// GOAWAY: last stream 1, NO_ERROR
	if f := raw.mustRead(); !bytes.Equal(rawFrame(f.typ, f.flags, f.stream, f.payload), rawFrame(5, 0, 0, []byte{0, 0, 0, 1, 0, 0, 0, 0})) {
		t.Fatalf("frame after Shutdown = %+v, want GOAWAY(1, NO_ERROR)", f)
	}
	raw.write(rawFrame(0, 2, 3, []byte("late"))) // new stream after GOAWAY
	if f := raw.mustRead(); !bytes.Equal(rawFrame(f.typ, f.flags, f.stream, f.payload), rawFrame(4, 0, 3, []byte{0, 0, 0, 5})) {
		t.Fatalf("answer to a new stream = %+v, want RST_STREAM(3, REFUSED_STREAM)", f)
	}
	// The open stream finishes normally.
	raw.write(rawFrame(0, 2, 1, []byte("part2")))
	for _, want := range []string{"part1", "part2"} {
		if m, err := st.Recv(); err != nil || string(m) != want {
			t.Fatalf("Recv = %q %v", m, err)
		}
	}
	if err := st.SendAndClose([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	if f := raw.mustRead(); f.typ != 0 || f.stream != 1 || f.flags != 2 || string(f.payload) != "bye" {
		t.Fatalf("answer = %+v", f)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	raw.readUntilClosed()
}

func TestShutdownPeerGetsRetryableError(t *testing.T) {
	c, s := pair(t, nil, nil)
	ctx := testCtx(t)
	st, err := c.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.Send([]byte("hello"))
	sst, err := s.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()
	testkit.WaitFor(t, testCtx(t), "server going away", func() bool { return !s.CanOpenStream() })
	sst.Send([]byte("after goaway")) // written after the GOAWAY frame
	if m, err := st.Recv(); err != nil || string(m) != "after goaway" {
		t.Fatalf("%q %v", m, err)
	}
	_, err = c.OpenStream(ctx)
	if !errors.Is(err, ErrGoAway) || !IsRetryable(err) {
		t.Fatalf("OpenStream after GOAWAY = %v, want retryable ErrGoAway", err)
	}
	if c.CanOpenStream() {
		t.Fatal("CanOpenStream true after GOAWAY")
	}
	// Finish the open stream: both sessions close, Shutdown returns nil.
	st.CloseSend()
	sst.CloseSend()
	if _, err := sst.Recv(); err != nil {
		t.Fatal(err)
	}
	if _, err := sst.Recv(); err != io.EOF {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Fatal(err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	waitDone(t, c)
}

func TestShutdownDeadline(t *testing.T) {
	c, s := pair(t, nil, nil)
	ctx := testCtx(t)
	st, _ := c.OpenStream(ctx)
	st.Send([]byte("never finished"))
	if _, err := s.AcceptStream(ctx); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	waitDone(t, s)
	if _, err := st.Recv(); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("client Recv after forced close = %v", err)
	}
}

func TestStreamIDExhaustionGoesAway(t *testing.T) {
	c, s := echoPair(t, nil, nil)
	ctx := testCtx(t)
	c.mu.Lock()
	c.nextID = maxStreamID - 2 // two IDs left: 2^31-3 and 2^31-1
	c.mu.Unlock()
	for i := 0; i < 2; i++ {
		if _, err := call(ctx, c, []byte("x")); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	_, err := c.OpenStream(ctx)
	if !errors.Is(err, ErrGoAway) || !IsRetryable(err) || !strings.Contains(err.Error(), "exhausted") {
		t.Fatalf("OpenStream with no ID left = %v", err)
	}
	waitDone(t, c) // no stream left: the session closes after its GOAWAY
	waitDone(t, s)
}

// --- 5. cancellation --------------------------------------------------------

func TestResetCancelsPeerContext(t *testing.T) {
	cases := []struct {
		name  string
		abort func(*Stream)
		code  ErrorCode
	}{
		{"Reset", func(st *Stream) { st.Reset(CodeApplication) }, CodeApplication},
		{"Close mid-call", func(st *Stream) { st.Close() }, CodeCancel},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, s := pair(t, nil, nil)
			ctx := testCtx(t)
			st, _ := c.OpenStream(ctx)
			st.Send([]byte("work"))
			sst, err := s.AcceptStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sctx := sst.Context()
			recvErr := make(chan error, 1)
			go func() {
				sst.Recv()
				_, err := sst.Recv()
				recvErr <- err
			}()
			tc.abort(st)
			select {
			case <-sctx.Done():
			case <-time.After(testTimeout):
				t.Fatal("peer stream context not cancelled")
			}
			var se *StreamError
			if cause := context.Cause(sctx); !errors.As(cause, &se) || se.Code != tc.code || !se.Remote {
				t.Fatalf("cause = %v, want remote %v", cause, tc.code)
			}
			if err := <-recvErr; !errors.As(err, &se) || se.Code != tc.code {
				t.Fatalf("peer Recv = %v", err)
			}
			if err := sst.Send([]byte("late")); !errors.As(err, &se) {
				t.Fatalf("peer Send after reset = %v", err)
			}
			// Local side: Recv reports the local reset.
			if _, err := st.Recv(); !errors.As(err, &se) || se.Remote {
				t.Fatalf("local Recv after reset = %v", err)
			}
			testkit.WaitFor(t, testCtx(t), "streams released", func() bool { return c.NumStreams() == 0 && s.NumStreams() == 0 })
		})
	}
}

func TestServerResetReachesClient(t *testing.T) {
	c, s := pair(t, nil, nil)
	ctx := testCtx(t)
	st, _ := c.OpenStream(ctx)
	st.SendAndClose([]byte("req"))
	sst, _ := s.AcceptStream(ctx)
	sst.Reset(CodeInternal)
	_, err := st.Recv()
	var se *StreamError
	if !errors.As(err, &se) || se.Code != CodeInternal || !se.Remote || !strings.Contains(err.Error(), "INTERNAL_ERROR") {
		t.Fatalf("Recv = %v", err)
	}
	if IsRetryable(err) {
		t.Fatal("an INTERNAL reset is not retryable")
	}
}

// --- 6. limits ----------------------------------------------------------------

func TestMaxConcurrentStreams(t *testing.T) {
	c, s := pair(t, nil, &Config{MaxConcurrentStreams: 2})
	ctx := testCtx(t)
	var open []*Stream
	for i := 0; i < 2; i++ {
		st, err := c.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st.Send([]byte("hold"))
		open = append(open, st)
	}
	_, err := c.OpenStream(ctx)
	if !errors.Is(err, ErrStreamRefused) || !IsRetryable(err) || !strings.Contains(err.Error(), "at most 2") {
		t.Fatalf("third OpenStream = %v", err)
	}
	if c.CanOpenStream() {
		t.Fatal("CanOpenStream true at the limit")
	}
	// Finishing a stream frees a slot.
	sst, _ := s.AcceptStream(ctx)
	open[0].CloseSend()
	sst.Recv()
	sst.Recv()
	sst.CloseSend()
	if _, err := open[0].Recv(); err != io.EOF {
		t.Fatal(err)
	}
	if _, err := c.OpenStream(ctx); err != nil {
		t.Fatalf("OpenStream after a slot was freed: %v", err)
	}
}

func TestStreamLimitRefusalOnTheWire(t *testing.T) {
	ln := listenT(t, &Config{MaxConcurrentStreams: 1})
	raw := dialRaw(t, ln)
	s := acceptT(t, ln)
	raw.write(rawSettings())
	raw.mustRead()
	raw.write(rawFrame(0, 0, 1, []byte("a")), rawFrame(0, 0, 3, []byte("b")))
	if f := raw.mustRead(); !bytes.Equal(rawFrame(f.typ, f.flags, f.stream, f.payload), rawFrame(4, 0, 3, []byte{0, 0, 0, 7})) {
		t.Fatalf("got %+v, want RST_STREAM(3, STREAM_LIMIT)", f)
	}
	// The peer answers the reset; the connection lives on.
	raw.write(rawFrame(4, 0, 3, []byte{0, 0, 0, 7}))
	st, err := s.AcceptStream(testCtx(t))
	if err != nil || st.ID() != 1 {
		t.Fatalf("accepted %v %v", st, err)
	}
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
}

func TestMaxMessageSize(t *testing.T) {
	t.Run("sender checks the peer's limit", func(t *testing.T) {
		c, _ := echoPair(t, nil, &Config{MaxMessageSize: 1000})
		ctx := testCtx(t)
		st, _ := c.OpenStream(ctx)
		err := st.Send(make([]byte, 1001))
		if !errors.Is(err, ErrMessageTooLarge) || !strings.Contains(err.Error(), "1001") {
			t.Fatalf("Send = %v", err)
		}
		if m, err := call(ctx, c, make([]byte, 1000)); err != nil || len(m) != 1000 {
			t.Fatalf("connection unusable after the refusal: %v", err)
		}
	})
	t.Run("receiver resets the stream", func(t *testing.T) {
		ln := listenT(t, &Config{MaxMessageSize: 1000})
		raw := dialRaw(t, ln)
		s := acceptT(t, ln)
		raw.write(rawSettings())
		raw.mustRead()
		raw.write(rawFrame(0, 1, 1, make([]byte, 600)), rawFrame(0, 0, 1, make([]byte, 600)))
		if f := raw.mustRead(); !bytes.Equal(rawFrame(f.typ, f.flags, f.stream, f.payload), rawFrame(4, 0, 1, []byte{0, 0, 0, 6})) {
			t.Fatalf("got %+v, want RST_STREAM(1, MESSAGE_TOO_LARGE)", f)
		}
		st, err := s.AcceptStream(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		_, err = st.Recv()
		if !errors.Is(err, ErrMessageTooLarge) || !strings.Contains(err.Error(), "limit 1000") {
			t.Fatalf("server Recv = %v", err)
		}
		raw.write(rawFrame(4, 0, 1, []byte{0, 0, 0, 6})) // answer the reset
		// The connection lives on: a new stream works.
		raw.write(rawFrame(0, 2, 3, []byte("fine")))
		st2, err := s.AcceptStream(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if m, err := st2.Recv(); err != nil || string(m) != "fine" {
			t.Fatalf("%q %v", m, err)
		}
	})
}

func TestHandshakeTimeout(t *testing.T) {
	t.Run("server closes a silent connection", func(t *testing.T) {
		ln := listenT(t, &Config{HandshakeTimeout: 50 * time.Millisecond})
		raw := dialRaw(t, ln)
		s := acceptT(t, ln)
		waitDone(t, s)
		if err := s.Err(); !errors.Is(err, ErrHandshakeTimeout) {
			t.Fatalf("Err = %v", err)
		}
		raw.readUntilClosed()
	})
	t.Run("client gives up on a silent server", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				accepted <- c
			}
		}()
		_, err = Dial(testCtx(t), "tcp", ln.Addr().String(), &Config{HandshakeTimeout: 50 * time.Millisecond})
		if !errors.Is(err, ErrHandshakeTimeout) {
			t.Fatalf("Dial = %v", err)
		}
		(<-accepted).Close()
	})
}

// --- 7. bad input -------------------------------------------------------------

func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	cases := []struct {
		name   string
		frames [][]byte
		want   string
	}{
		{"length over limit", [][]byte{{0, 0x89, 0x54, 0x40, 0, 0, 0, 1, 0, 0}}, "frame length 9000000 exceeds limit 65536"},
		{"unknown type", [][]byte{rawFrame(0x7, 0, 0, nil)}, "unknown frame type 0x7"},
		{"DATA on closed stream", [][]byte{rawFrame(0, 2, 1, []byte("a")), rawFrame(0, 2, 3, []byte("b")), rawFrame(0, 0, 1, []byte("c"))}, "after END_STREAM"},
		{"DATA on an old stream ID", [][]byte{rawFrame(0, 0, 5, []byte("a")), rawFrame(0, 0, 3, []byte("b"))}, "DATA frame on closed stream 3"},
		{"DATA on idle server stream", [][]byte{rawFrame(0, 0, 2, []byte("a"))}, "idle stream 2"},
		{"connection window overflow", [][]byte{rawFrame(3, 0, 0, u32(maxWindow))}, "connection send window overflow"},
		{"stream window overflow", [][]byte{rawFrame(0, 0, 1, []byte("a")), rawFrame(3, 0, 1, u32(maxWindow))}, "stream 1 send window overflow"},
		{"zero window increment", [][]byte{rawFrame(3, 0, 0, u32(0))}, "increment 0"},
		{"DATA beyond the window", [][]byte{rawFrame(0, 1, 1, make([]byte, 65536)), rawFrame(0, 1, 1, make([]byte, 65536)), rawFrame(0, 1, 1, make([]byte, 65536)), rawFrame(0, 1, 1, make([]byte, 65536)), rawFrame(0, 1, 1, make([]byte, 65536))}, ""},
		{"second SETTINGS", [][]byte{rawSettings()}, "duplicate SETTINGS"},
		{"WINDOW_UPDATE on idle stream", [][]byte{rawFrame(3, 0, 9, u32(5))}, "idle stream 9"},
		{"bad GOAWAY length", [][]byte{rawFrame(5, 0, 0, []byte{1})}, "GOAWAY payload length 1"},
		{"truncated frame", [][]byte{{0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 'a'}}, "in the middle of a frame"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &Config{StreamWindow: 100000, ConnWindow: 400000}
			if tc.want == "" {
				tc.want = "DATA frame of 65536 bytes on stream 1 exceeds the stream window 34464"
			}
			ln := listenT(t, cfg)
			// A healthy session on the same listener.
			var good *Session
			dialed := make(chan error, 1)
			go func() {
				var err error
				good, err = Dial(testCtx(t), "tcp", ln.Addr().String(), nil)
				dialed <- err
			}()
			goodServer := acceptT(t, ln)
			if err := <-dialed; err != nil {
				t.Fatal(err)
			}
			defer good.Close()
			done := serveEcho(goodServer)
			defer func() { goodServer.Close(); <-done }()

			raw := dialRaw(t, ln)
			s := acceptT(t, ln)
			raw.write(rawSettings())
			raw.mustRead()
			raw.write(tc.frames...)
			if tc.name == "truncated frame" {
				raw.conn.(*net.TCPConn).CloseWrite()
			}
			frames := raw.readUntilClosed()
			waitDone(t, s)
			err := s.Err()
			if !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrSessionClosed) {
				t.Fatalf("Err = %v, want %q", err, tc.want)
			}
			if errors.Is(err, ErrProtocol) {
				// A protocol error is explained to the peer with GOAWAY.
				last := frames[len(frames)-1]
				if last.typ != 5 || !strings.Contains(string(last.payload[8:]), tc.want) {
					t.Fatalf("last frame %+v, want GOAWAY with the reason", last)
				}
			}
			if m, err := call(testCtx(t), good, []byte("still here")); err != nil || string(m) != "still here" {
				t.Fatalf("other connection affected: %q %v", m, err)
			}
		})
	}
}

func TestGoAwayFailsUnsentStreams(t *testing.T) {
	c, s := pair(t, nil, nil)
	ctx := testCtx(t)
	unsent, err := c.OpenStream(ctx) // opened, nothing sent yet
	if err != nil {
		t.Fatal(err)
	}
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	waitDone(t, c) // the client drains too: the unsent stream does not hold it
	err = unsent.Send([]byte("late"))
	if !IsRetryable(err) {
		t.Fatalf("Send on a stream the server never saw = %v, want retryable", err)
	}
}

func TestHalfCloseNotBlockedByConnectionWindow(t *testing.T) {
	c, s := pair(t, nil, nil)
	ctx := testCtx(t)
	c.mu.Lock()
	c.connSendWindow = 0 // as if the peer had granted nothing yet
	c.mu.Unlock()
	a, _ := c.OpenStream(ctx)
	aDone := make(chan error, 1)
	go func() { aDone <- a.Send(make([]byte, 1000)) }()
	testkit.WaitFor(t, testCtx(t), "connection window blocks the writer", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.connBlocked
	})
	b, _ := c.OpenStream(ctx)
	if err := b.CloseSend(); err != nil { // a bare END_STREAM needs no window
		t.Fatal(err)
	}
	sb, err := s.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Recv(); err != io.EOF {
		t.Fatalf("Recv on the half-closed stream = %v, want io.EOF", err)
	}
	c.Close()
	if err := <-aDone; !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("blocked Send after Close = %v", err)
	}
}

func TestPeerIgnoringStreamLimitIsClosed(t *testing.T) {
	ln := listenT(t, &Config{MaxConcurrentStreams: 1})
	raw := dialRaw(t, ln)
	s := acceptT(t, ln)
	raw.write(rawSettings())
	raw.mustRead()
	// Open 40 streams and never answer the refusals: memory must stay bounded.
	var frames [][]byte
	for id := uint32(1); id < 80; id += 2 {
		frames = append(frames, rawFrame(0, 0, id, []byte("x")))
	}
	raw.write(frames...)
	raw.readUntilClosed()
	waitDone(t, s)
	if err := s.Err(); !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "beyond the limit 1") {
		t.Fatalf("Err = %v", err)
	}
}

func TestLegacyBackpressure(t *testing.T) {
	ln := listenT(t, &Config{MaxConcurrentStreams: 2})
	raw := dialRaw(t, ln)
	s := acceptT(t, ln)
	ctx := testCtx(t)
	raw.write(rawFrame(0, 0, 1, []byte("a")), rawFrame(0, 0, 2, []byte("b")), rawFrame(0, 0, 3, []byte("c")))
	first, err := s.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcceptStream(ctx); err != nil {
		t.Fatal(err)
	}
	// Two requests are unanswered: the third is not read yet.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.AcceptStream(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third AcceptStream = %v, want to wait", err)
	}
	first.Send([]byte("A"))
	third, err := s.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := third.Recv(); err != nil || string(m) != "c" {
		t.Fatalf("%q %v", m, err)
	}
}

func TestSessionAccessors(t *testing.T) {
	c, s := echoPair(t, nil, nil)
	if c.LocalAddr().String() != s.RemoteAddr().String() || c.RemoteAddr().String() != s.LocalAddr().String() {
		t.Fatal("addresses do not match")
	}
	if c.Err() != nil || c.Legacy() || s.Legacy() || !c.CanOpenStream() || !s.CanOpenStream() {
		t.Fatal("fresh session state")
	}
	st, _ := c.OpenStream(testCtx(t))
	if st.Session() != c || c.NumStreams() != 1 {
		t.Fatalf("NumStreams = %d", c.NumStreams())
	}
	st.Close()
	if c.NumStreams() != 0 {
		t.Fatalf("NumStreams after Close = %d", c.NumStreams())
	}
	c.Close()
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if err := c.Err(); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("Err = %v", err)
	}
	if _, err := c.OpenStream(testCtx(t)); !errors.Is(err, ErrSessionClosed) || !IsRetryable(err) {
		t.Fatalf("OpenStream on a closed session = %v", err)
	}
	if _, err := c.AcceptStream(testCtx(t)); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("AcceptStream on a closed session = %v", err)
	}
	waitDone(t, s) // the server saw GOAWAY and EOF
}

// lockedBuffer is an io.Writer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestLoggerReportsProtocolError(t *testing.T) {
	var logs lockedBuffer
	ln := listenT(t, &Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	raw := dialRaw(t, ln)
	s := acceptT(t, ln)
	raw.write(rawSettings())
	raw.mustRead()
	raw.write(rawFrame(0x9, 0, 0, nil))
	raw.readUntilClosed()
	waitDone(t, s)
	s.Close()
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "unknown frame type 0x9") {
		t.Fatalf("log = %q", out)
	}
}
