package iip

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWindowOnTheWire: toward a hand-written server that grants a window
// of 8 KiB, our client sends a 40 KiB request 8 KiB at a time, each burst
// once the server acknowledged the last, and then fails the connection
// with a protocol error when the server acknowledges more than was sent.
func TestWindowOnTheWire(t *testing.T) {
	const window = 8 << 10
	bursts := make(chan int, 16)
	addr := rawServer(t, func(r *rawConn) {
		defer close(bursts)
		c := r.c
		f, err := r.read()
		if err != nil {
			return
		}
		_, _ = c.Write(rawFrame(5, f.path, f.ch, `{"code":0,"channel_id":1,"caps":["control","goaway","frame-size","window"],"frame_size":4096,"window":8192}`))
		ack := func(n int) { _, _ = c.Write(rawFrame(5, pathWindow, controlChannel, `{"n":`+strconv.Itoa(n)+`}`)) }
		burst := 0
		for {
			// The client has a full window out: nothing more comes
			// until we acknowledge (a short wait shows it).
			if burst == window {
				_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				if _, err := r.br.Peek(1); err == nil {
					bursts <- -1 // sent past the window
					return
				}
				_ = c.SetReadDeadline(time.Now().Add(testTimeout))
				bursts <- burst
				ack(burst)
				burst = 0
			}
			f, err := r.read()
			if err != nil {
				return
			}
			if f.ch == controlChannel {
				continue
			}
			burst += len(f.data)
			if f.status == byte(statusRequestContinueLast) {
				bursts <- burst
				ack(burst)
				_, _ = c.Write(rawFrame(5, f.path, f.ch, `done`))
				ack(1) // more than was sent: a protocol error
				return
			}
		}
	})
	conn := dialT(t, addr, WithConfig(Config{FrameSize: MinFrameSize}))
	resp, err := conn.Do(testCtx(t), "/up", pattern(40_000))
	if err != nil || string(resp) != "done" {
		t.Fatalf("upload: %q, %v", resp, err)
	}
	var got []int
	for b := range bursts {
		got = append(got, b)
	}
	if len(got) != 5 || got[0] != window || got[4] != 40_000-4*window {
		t.Fatalf("bursts %v, want four of %d bytes and the rest (-1: sent past the window)", got, window)
	}
	select {
	case <-conn.done:
	case <-testCtx(t).Done():
		t.Fatal("an acknowledgement of more than was sent did not fail the connection")
	}
	if err := conn.Err(); !errors.Is(err, ErrConnLost) || !strings.Contains(err.Error(), "acknowledges") {
		t.Fatalf("connection error %v, want a lost connection naming the acknowledgement", err)
	}
}

// TestHostileWindow: a client that negotiated "window" and breaks it loses
// its connection: a frame larger than the server's window, and an
// acknowledgement of bytes the server never sent.
func TestHostileWindow(t *testing.T) {
	const fs = 64 << 10
	_, addr := echoServer(t, WithConfig(Config{FrameSize: fs, Window: 2 * fs}))
	negotiate := func(t *testing.T) *rawConn {
		r := rawDial(t, addr)
		r.send(rawFrame(byte(statusRequest), pathNewChannel, 0, `{"caps":["control","goaway","frame-size","window"],"frame_size":65536,"window":131072}`))
		r.expect(rawResp{byte(statusResponse), pathNewChannel, 0, `{"code":0,"channel_id":1,"caps":["control","goaway","frame-size","window"],"frame_size":65536,"window":131072}`})
		return r
	}
	t.Run("frame past the window", func(t *testing.T) {
		r := negotiate(t)
		r.send(rawFrame(byte(statusRequestFirst), "/echo", 1, strings.Repeat("w", 2*fs+1)))
		r.expectClosed()
	})
	t.Run("acknowledges what was never sent", func(t *testing.T) {
		r := negotiate(t)
		r.send(rawFrame(byte(statusRequest), pathWindow, controlChannel, `{"n":1}`))
		r.expectClosed()
	})
	t.Run("bad acknowledgement", func(t *testing.T) {
		r := negotiate(t)
		r.send(rawFrame(byte(statusRequest), pathWindow, controlChannel, `{"n":-5}`))
		r.expectClosed()
	})
	t.Run("within the window", func(t *testing.T) {
		r := negotiate(t)
		r.send(rawFrame(byte(statusRequestFirst), "/echo", 1, strings.Repeat("w", fs)))
		r.send(rawFrame(byte(statusRequestContinueLast), "/echo", 1, "!"))
		got := 0
		for {
			f, err := r.read()
			if err != nil {
				t.Fatal(err)
			}
			if f.ch == controlChannel {
				continue // the server's acknowledgement
			}
			got += len(f.data)
			if f.status == byte(statusResponse) || f.status == byte(statusResponseContinueEnd) {
				break
			}
		}
		if got != fs+1 {
			t.Fatalf("echo: %d bytes, want %d", got, fs+1)
		}
	})
}

// TestWindowShutdownAnswersLargeResponses: a graceful shutdown stops the
// server's reader, so the client's acknowledgements are no longer read;
// a large response still being written then goes out without them, and
// the call gets all of it.
func TestWindowShutdownAnswersLargeResponses(t *testing.T) {
	s, addr := echoServer(t, WithConfig(Config{FrameSize: MinFrameSize, Window: 2 * MinFrameSize}))
	entered, release := make(chan struct{}), make(chan struct{})
	big := pattern(1 << 20)
	s.HandleFunc("/big", func(ctx context.Context, r *Request) ([]byte, error) {
		close(entered)
		<-release
		return big, nil
	})
	c := dialT(t, addr, WithConfig(Config{FrameSize: MinFrameSize, Window: 2 * MinFrameSize}))
	res := make(chan error, 1)
	go func() {
		resp, err := c.Do(testCtx(t), "/big", nil)
		if err == nil && !bytes.Equal(resp, big) {
			err = errors.New("wrong response")
		}
		res <- err
	}()
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(testCtx(t)) }()
	close(release)
	if err := <-res; err != nil {
		t.Fatalf("large response during shutdown: %v", err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// TestWindowDeadlineMidMessage: a server whose streaming handler does not
// read stops acknowledging (its reader waits for the handler), so a large
// request waits for the window half way through; when the call's context
// ends the wait (here once the server has read the request's first frame,
// so that part of it is surely out), the client closes the connection (the
// rest of the message cannot follow) and the call fails, not hangs.
func TestWindowDeadlineMidMessage(t *testing.T) {
	s, addr, seen := hookedServer(t, WithConfig(Config{FrameSize: MinFrameSize, Window: 2 * MinFrameSize}), WithLimits(Limits{StreamQueue: 1}))
	release := make(chan struct{})
	s.HandleStream("/stuck", func(ctx context.Context, r *StreamRequest) ([]byte, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil, nil
	})
	t.Cleanup(func() { close(release) })
	c := dialT(t, addr, WithConfig(Config{FrameSize: MinFrameSize, Window: 2 * MinFrameSize}))
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	res := make(chan error, 1)
	go func() {
		_, err := c.Do(ctx, "/stuck", pattern(1<<20))
		res <- err
	}()
	waitSeen(t, seen, "/stuck")
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) && !errors.Is(err, ErrConnLost) {
		t.Fatalf("call stuck on the window: %v, want its context's error or a lost connection", err)
	}
	select {
	case <-c.Done():
	case <-testCtx(t).Done():
		t.Fatal("the connection with half a message written stayed open")
	}
}
