package nap

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
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
	waitFor(t, "all requests queued", func() bool {
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
