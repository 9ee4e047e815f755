package nap

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"testing"

	"github.com/seed857a6cbd/pocket/nap/internal/testkit"
)

// TestConcurrentLargeMessagesWithinConnBudget: 16 callers each sending a 1.125 MiB message
// on one connection (18 MiB in all, above the 16 MiB default connection budget) all
// succeed, in both directions (the echo answers are as large). A sender that interleaved
// the 16 messages made the receiver reserve all 16 sizes at once, fill its budget with
// messages none of which could complete, and reset the largest (RESOURCE_EXHAUSTED).
func TestConcurrentLargeMessagesWithinConnBudget(t *testing.T) {
	const callers, size, rounds = 16, 1<<20 + 128<<10, 3
	c, _ := echoPair(t, nil, nil)
	for r := range rounds {
		errs := make(chan error, callers)
		for i := range callers {
			go func() {
				msg := bytes.Repeat([]byte{byte(i)}, size)
				got, err := call(testCtx(t), c, msg)
				if err == nil && !bytes.Equal(got, msg) {
					err = fmt.Errorf("caller %d: echo differs (%d bytes)", i, len(got))
				}
				errs <- err
			}()
		}
		for range callers {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", r, err)
			}
		}
	}
}

// steppedConn holds the Write that crosses each of stops (cumulative bytes written, in
// ascending order): it closes reached[i] and waits for resume[i]. Only the write token's
// holder writes, so Writes never overlap.
type steppedConn struct {
	net.Conn
	stops   []int
	reached []chan struct{}
	resume  []chan struct{}
	written int
}

func newSteppedConn(stops ...int) *steppedConn {
	c := &steppedConn{stops: stops}
	for range stops {
		c.reached = append(c.reached, make(chan struct{}))
		c.resume = append(c.resume, make(chan struct{}))
	}
	return c
}

func (c *steppedConn) Write(p []byte) (int, error) {
	before := c.written
	c.written += len(p)
	for i, stop := range c.stops {
		if before < stop && c.written >= stop {
			close(c.reached[i])
			<-c.resume[i]
		}
	}
	return c.Conn.Write(p)
}

// TestLargeMessagesStartInSendOrder: messages larger than sharedFrameSize wait for the one
// being sent (one large message at a time) and then start in the order their Sends were
// called, whatever their places in the writer's round-robin. The writer is held twice
// while a 1 MiB message A is sent: B and C queue during its first batch, D during its
// second, when A has just gone back to the end of the round-robin. D then sat right behind
// A and started before B and C: the stream queued last took the connection next, so under
// steady load a message could wait behind any number of later ones (rpcbench, 256 KiB x 16:
// p99 17-25 ms against a median of 1-5 ms, issue #17). IDs are assigned as a stream's
// first frame is scheduled, so they give the order in which the messages started.
func TestLargeMessagesStartInSendOrder(t *testing.T) {
	// The server's window takes every message whole: no stream waits for credit.
	g := newSteppedConn(128<<10, 384<<10) // inside A's first and second 256 KiB batches
	c, s := dialWrapped(t, nil, &Config{StreamWindow: 2 << 20}, func(conn net.Conn) net.Conn { g.Conn = conn; return g })
	done := serveEcho(s)
	t.Cleanup(func() { s.Close(); <-done })
	ctx := testCtx(t)

	type sent struct {
		st   *Stream
		size int
		err  chan error
	}
	send := func(size int) sent {
		st, err := c.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := sent{st, size, make(chan error, 1)}
		go func() { m.err <- st.SendAndClose(make([]byte, size)) }()
		return m
	}
	wait := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, ctx.Err())
		}
	}
	queued := func(m sent) {
		t.Helper()
		testkit.WaitFor(t, ctx, "message queued", func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			return m.st.inReady
		})
	}

	a := send(1 << 20)
	wait("A's first batch written", g.reached[0])
	b := send(256 << 10)
	queued(b)
	cc := send(256 << 10)
	queued(cc)
	close(g.resume[0])
	wait("A's second batch written", g.reached[1])
	d := send(256 << 10)
	queued(d)
	close(g.resume[1])

	for i, m := range []sent{a, b, cc, d} {
		if err := <-m.err; err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		got, err := m.st.Recv()
		if err != nil || len(got) != m.size {
			t.Fatalf("message %d: echo of %d bytes, %v; want %d bytes", i, len(got), err, m.size)
		}
		m.st.Close()
	}
	if ids := []uint32{b.st.ID(), cc.st.ID(), d.st.ID()}; !slices.IsSorted(ids) {
		t.Errorf("B, C, D (queued in that order behind A) got stream IDs %v: want them to start in that order", ids)
	}
}
