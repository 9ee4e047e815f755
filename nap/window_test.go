package nap

import (
	"bytes"
	"testing"
)

// TestDefaultWindowHoldsEnvelopedPayload: with the default stream window a
// message of a 256 KiB payload plus an RPC envelope (4 KiB here, more than
// dora's or IIP's header) is sent in full while the receiver has not read
// anything, so no WINDOW_UPDATE round trip is needed in the middle of it
// (DefaultStreamWindow's doc; BENCHMARKS.md, "A 256 KiB payload in one
// flight"). With a window of exactly 256 KiB SendAndClose would wait for
// credit that only a Recv gives.
func TestDefaultWindowHoldsEnvelopedPayload(t *testing.T) {
	c, s := pair(t, nil, nil)
	st, err := c.OpenStream(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte{'w'}, 256<<10+4<<10)
	sent := make(chan error, 1)
	go func() { sent <- st.SendAndClose(msg) }()
	select {
	case err := <-sent:
		if err != nil {
			t.Fatalf("SendAndClose of %d bytes before the receiver reads: %v", len(msg), err)
		}
	case <-testCtx(t).Done():
		t.Fatalf("SendAndClose of %d bytes still waits for stream credit; the default window is %d", len(msg), DefaultStreamWindow)
	}
	// Only now does the server take the stream and read it.
	sst, err := s.AcceptStream(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := sst.Recv()
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("received %d bytes, %v; want the %d sent", len(got), err, len(msg))
	}
}
