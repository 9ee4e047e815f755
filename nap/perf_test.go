package nap

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seed857a6cbd/pocket/nap/internal/testkit"
)

func TestWritesAreCoalesced(t *testing.T) {
	const calls = 200
	g := &gatedConn{reached: make(chan struct{}), gate: make(chan struct{})}
	g.threshold = len(appendSettings(nil, defaultSettings)) + 1 // the first write after the handshake waits
	c, s := dialWrapped(t, nil, nil, func(c net.Conn) net.Conn { g.Conn = c; return g })
	done := rawEchoServer(s) // answers with SendAndClose: the client writes nothing else
	defer func() { s.Close(); <-done }()
	ctx := testCtx(t)
	errs := make(chan error, calls)
	start := func() {
		go func() {
			m, err := call(ctx, c, []byte("0123456789"))
			if err == nil && string(m) != "0123456789" {
				err = errors.New("wrong echo")
			}
			errs <- err
		}()
	}
	start()
	<-g.reached
	before := g.writes.Load()
	for i := 1; i < calls; i++ {
		start()
	}
	testkit.WaitFor(t, testCtx(t), "all requests queued", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.ready.len() == calls-1
	})
	close(g.gate)
	for i := 0; i < calls; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// 199 requests were queued while one write was held: they leave in a
	// handful of writes, not one each.
	if w := g.writes.Load() - before; w > 20 {
		t.Fatalf("%d writes for %d queued requests", w, calls-1)
	}
}

// rawEchoServer answers each stream's single message without spawning a
// goroutine per stream, so allocation counts show the transport's own cost.
func rawEchoServer(s *Session) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			st, err := s.AcceptStream(context.Background())
			if err != nil {
				return
			}
			m, err := st.Recv()
			if err == nil {
				st.SendAndClose(m)
			}
		}
	}()
	return done
}

func TestSmallCallAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count needs a quiet run")
	}
	c, s := pair(t, nil, nil)
	done := rawEchoServer(s)
	defer func() { s.Close(); <-done }()
	ctx := context.Background()
	msg := make([]byte, 1024)
	for i := 0; i < 100; i++ { // warm pools and maps
		call(ctx, c, msg)
	}
	allocs := testing.AllocsPerRun(500, func() {
		if _, err := call(ctx, c, msg); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("%.1f allocations per 1 KiB call, both sides", allocs)
	if allocs > 10 {
		t.Fatalf("%.1f allocations per 1 KiB request/response (both sides), want <= 10", allocs)
	}
}

func TestNoGoroutineLeftAfterClose(t *testing.T) {
	ln, err := Listen("tcp", "127.0.0.1:0", &Config{KeepAliveInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan *Session, 1)
	go func() {
		s, _ := ln.Accept()
		accepted <- s
	}()
	c, err := Dial(context.Background(), "tcp", ln.Addr().String(), &Config{KeepAliveInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	done := serveEcho(s)
	for i := 0; i < 10; i++ {
		if _, err := call(context.Background(), c, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// a stream left open on purpose
	st, _ := c.OpenStream(context.Background())
	st.Send([]byte("open"))
	c.Close()
	s.Close()
	<-done
	ln.Close()
	goleak.VerifyNone(t)
}

// TestReleaseReusesMessages checks that released messages, large and small,
// go back to the pool and that a released buffer is the one the next message
// of its size class lands in, with the new message's content.
func TestReleaseReusesMessages(t *testing.T) {
	c, s := pair(t, nil, nil)
	ctx := testCtx(t)
	st, err := c.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() {
		for i := 0; i < 3; i++ {
			m := bytes.Repeat([]byte{byte('a' + i)}, 32<<10)
			if err := st.Send(m); err != nil {
				sent <- err
				return
			}
		}
		if err := st.Send([]byte("small")); err != nil {
			sent <- err
			return
		}
		sent <- st.CloseSend()
	}()
	sst, err := s.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		m, err := sst.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if want := bytes.Repeat([]byte{byte('a' + i)}, 32<<10); !bytes.Equal(m, want) {
			t.Fatalf("message %d: content differs from what was sent", i)
		}
		sst.Release(m) // the reader may already be past it: reuse is checked below
	}
	small, err := sst.Recv()
	if err != nil || string(small) != "small" {
		t.Fatalf("small message = %q, %v", small, err)
	}
	sst.Release(small)
	if _, err := sst.Recv(); err != io.EOF {
		t.Fatalf("Recv after the last message = %v, want io.EOF", err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	// A released buffer is the one a next message of its class lands in.
	// sync.Pool gives no guarantee for one Get (a buffer in another P's
	// private slot is out of reach, and the race detector drops a quarter of
	// what it is given), so a few rounds must see at least one reuse.
	payload := bytes.Repeat([]byte("z"), 40<<10)
	reused := 0
	for round := 0; round < 8; round++ {
		buf := getMessage(len(payload))
		for i := 0; i < 1000 && msgPools[classFor(len(payload))].Get() != nil; i++ {
			// what earlier tests and rounds released in this class
		}
		sst.Release(buf)
		st2, err := c.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st2.SendAndClose(payload); err != nil {
			t.Fatal(err)
		}
		sst2, err := s.AcceptStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m, err := sst2.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m, payload) {
			t.Fatal("the message received into a released buffer differs from what was sent")
		}
		if &m[0] == &buf[0] {
			reused++
		}
		sst2.Release(m)
		sst2.Close()
	}
	if reused == 0 {
		t.Fatal("a released buffer was never reused for the next message of its size class")
	}
	t.Logf("released buffer reused in %d of 8 rounds", reused)
}
