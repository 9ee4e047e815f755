package nap

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// Legacy peers are simulated with frames written byte by byte: no nap code
// produces what the server reads here, and answers are compared byte-exact.

func TestLegacyRequestAnswer(t *testing.T) {
	ln := listenT(t, nil)
	raw := dialRaw(t, ln)
	s := acceptT(t, ln)
	ctx := testCtx(t)

	// DATA, stream 7, flags 0, "hello"
	raw.write([]byte{0, 0, 0, 5, 0, 0, 0, 7, 0, 0, 'h', 'e', 'l', 'l', 'o'})
	st, err := s.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Legacy() {
		t.Fatal("Legacy() = false after a DATA first frame")
	}
	if st.ID() != 7 {
		t.Fatalf("ID = %d, want 7", st.ID())
	}
	m, err := st.Recv()
	if err != nil || string(m) != "hello" {
		t.Fatalf("Recv = %q, %v", m, err)
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("second Recv = %v, want io.EOF", err)
	}
	if err := st.SendAndClose([]byte("HELLO")); err != nil {
		t.Fatal(err)
	}
	got := raw.mustRead()
	want := gotFrame{typ: 0, flags: 0, stream: 7, payload: []byte("HELLO")}
	if got.typ != want.typ || got.flags != want.flags || got.stream != want.stream || !bytes.Equal(got.payload, want.payload) {
		t.Fatalf("answer = %+v, want %+v", got, want)
	}
	if err := st.Send([]byte("again")); !errors.Is(err, ErrStreamClosed) {
		t.Fatalf("second answer: %v, want ErrStreamClosed", err)
	}
	if _, err := s.OpenStream(ctx); err == nil {
		t.Fatal("OpenStream toward a legacy peer succeeded")
	}
}

func TestLegacyManyStreamIDs(t *testing.T) {
	ln := listenT(t, nil)
	raw := dialRaw(t, ln)
	s := acceptT(t, ln)
	ctx := testCtx(t)
	ids := []uint32{2, 0x80000001, 5, 4, 0xffffffff}
	for _, id := range ids {
		raw.write(rawFrame(0, 0, id, []byte{byte(id), 'q'}))
	}
	// answer in reverse order
	var sts []*Stream
	for range ids {
		st, err := s.AcceptStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sts = append(sts, st)
	}
	for i := len(sts) - 1; i >= 0; i-- {
		m, err := sts[i].Recv()
		if err != nil {
			t.Fatal(err)
		}
		if err := sts[i].Send(append(m, 'a')); err != nil {
			t.Fatal(err)
		}
	}
	for i := len(ids) - 1; i >= 0; i-- {
		got := raw.mustRead()
		wantPayload := []byte{byte(ids[i]), 'q', 'a'}
		if got.typ != 0 || got.flags != 0 || got.stream != ids[i] || !bytes.Equal(got.payload, wantPayload) {
			t.Fatalf("answer %d = %+v", i, got)
		}
	}
	// A finished stream ID may be used again by the process-wide counter.
	raw.write(rawFrame(0, 0, 5, []byte("x")))
	st, err := s.AcceptStream(ctx)
	if err != nil || st.ID() != 5 {
		t.Fatalf("reused ID: %v, %v", st, err)
	}
}

func TestLegacyPing(t *testing.T) {
	cases := []struct {
		name  string
		first [][]byte // frames before the checked PING
	}{
		{name: "ping as first frame"},
		{name: "ping after a request", first: [][]byte{rawFrame(0, 0, 9, []byte("r"))}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln := listenT(t, nil)
			raw := dialRaw(t, ln)
			s := acceptT(t, ln)
			raw.write(tc.first...)
			raw.write([]byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 0}) // PING, flags 0, length 0
			got := raw.mustRead()
			if got.typ != 1 || got.flags != 1 || got.stream != 0 || len(got.payload) != 0 {
				t.Fatalf("PING answer = %+v, want PING+ACK with no payload", got)
			}
			// Still a legacy-capable server: a request after the ping works.
			raw.write(rawFrame(0, 0, 11, []byte("after")))
			ctx := testCtx(t)
			for {
				st, err := s.AcceptStream(ctx)
				if err != nil {
					t.Fatal(err)
				}
				m, _ := st.Recv()
				if string(m) == "after" {
					st.Send([]byte("ok"))
					break
				}
				st.Close()
			}
			got = raw.mustRead()
			if got.typ != 0 || got.stream != 11 || string(got.payload) != "ok" {
				t.Fatalf("answer = %+v", got)
			}
			if !s.Legacy() {
				t.Fatal("not detected as legacy")
			}
		})
	}
}

func TestLegacyKeepAliveSendsOnlyPlainPing(t *testing.T) {
	ln := listenT(t, &Config{KeepAliveInterval: 30 * time.Millisecond, KeepAliveTimeout: 5 * time.Second})
	raw := dialRaw(t, ln)
	s := acceptT(t, ln)
	raw.write(rawFrame(0, 0, 3, []byte("req")))
	for i := 0; i < 2; i++ {
		got := raw.mustRead()
		if got.typ != 1 || got.flags != 0 || got.stream != 0 || len(got.payload) != 0 {
			t.Fatalf("keepalive frame = %+v, want PING flags 0 length 0", got)
		}
		raw.write([]byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 1}) // PING+ACK
	}
	if s.Err() != nil {
		t.Fatalf("session failed although the peer answered: %v", s.Err())
	}
}

func TestLegacyAnswerTooLarge(t *testing.T) {
	ln := listenT(t, nil)
	raw := dialRaw(t, ln)
	s := acceptT(t, ln)
	raw.write(rawFrame(0, 0, 1, []byte("big?")))
	st, err := s.AcceptStream(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	err = st.Send(make([]byte, 64<<10+1))
	if !errors.Is(err, ErrMessageTooLarge) || !strings.Contains(err.Error(), "65537") {
		t.Fatalf("Send(64 KiB + 1) = %v, want ErrMessageTooLarge naming the size", err)
	}
	if err := st.Send(make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	got := raw.mustRead()
	if got.typ != 0 || got.flags != 0 || len(got.payload) != 64<<10 {
		t.Fatalf("answer: type %d flags %d len %d", got.typ, got.flags, len(got.payload))
	}
}

func TestLegacyBadInputClosesWithoutUnknownFrames(t *testing.T) {
	cases := []struct {
		name   string
		frames [][]byte
		want   string
	}{
		{"settings after legacy DATA", [][]byte{rawFrame(0, 0, 1, []byte("a")), rawSettings()}, "not allowed from a legacy peer"},
		{"unknown type", [][]byte{rawFrame(0, 0, 1, []byte("a")), rawFrame(9, 0, 0, nil)}, "type 0x9"},
		{"frame over 64 KiB", [][]byte{rawFrame(0, 0, 1, []byte("a")), {0, 1, 0, 1, 0, 0, 0, 3, 0, 0}}, "frame length 65537 exceeds limit 65536"},
		{"flags on legacy DATA", [][]byte{rawFrame(0, 0, 1, []byte("a")), rawFrame(0, 1, 3, []byte("b"))}, "flags 0x1"},
		{"DATA on stream 0", [][]byte{rawFrame(0, 0, 0, []byte("a"))}, "DATA frame on stream 0"},
		{"duplicate stream", [][]byte{rawFrame(0, 0, 1, []byte("a")), rawFrame(0, 0, 1, []byte("b"))}, "still awaits its answer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln := listenT(t, nil)
			raw := dialRaw(t, ln)
			s := acceptT(t, ln)
			raw.write(tc.frames...)
			for _, f := range raw.readUntilClosed() {
				if f.typ > 1 {
					t.Fatalf("server sent frame type %d to a legacy peer", f.typ)
				}
			}
			waitDone(t, s)
			if err := s.Err(); !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Err = %v, want ErrProtocol containing %q", err, tc.want)
			}
		})
	}
}

func TestLegacyShutdownSendsNoGoAway(t *testing.T) {
	ln := listenT(t, nil)
	raw := dialRaw(t, ln)
	s := acceptT(t, ln)
	raw.write(rawFrame(0, 0, 21, []byte("slow")))
	st, err := s.AcceptStream(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(testCtx(t)) }()
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	if err := st.Send([]byte("done")); err != nil {
		t.Fatal(err)
	}
	frames := raw.readUntilClosed()
	if len(frames) != 1 || frames[0].typ != 0 || string(frames[0].payload) != "done" {
		t.Fatalf("frames before close = %+v, want only the answer", frames)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	_ = context.Background()
}
