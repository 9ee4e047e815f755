package iip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"testing"
)

// streamServer serves /download?n=N&chunk=C (N bytes of pattern written C
// bytes at a time), /fail-after (one chunk, then an error) and /endless
// (chunks until its context ends, reported on ended).
func streamServer(t *testing.T, opts ...ServerOption) (addr string, ended <-chan error) {
	t.Helper()
	s, addr := echoServer(t, opts...)
	s.HandleStreamResponse("/download", func(ctx context.Context, r *Request, w *StreamWriter) error {
		n, _ := strconv.Atoi(r.Query.Get("n"))
		chunk, _ := strconv.Atoi(r.Query.Get("chunk"))
		data := pattern(n)
		for off := 0; off < n; off += chunk {
			if _, err := w.Write(data[off:min(off+chunk, n)]); err != nil {
				return err
			}
		}
		return nil
	})
	s.HandleStreamResponse("/fail-after", func(ctx context.Context, r *Request, w *StreamWriter) error {
		if _, err := w.Write([]byte("part one")); err != nil {
			return err
		}
		return errors.New("disk gone")
	})
	e := make(chan error, 1)
	s.HandleStreamResponse("/endless", func(ctx context.Context, r *Request, w *StreamWriter) error {
		buf := pattern(32 << 10)
		for {
			if _, err := w.Write(buf); err != nil {
				e <- err
				return err
			}
			if err := ctx.Err(); err != nil {
				e <- err
				return err
			}
		}
	})
	return addr, e
}

// readAll reads a response stream to its end.
func readAll(t *testing.T, st *ResponseStream) ([]byte, int, error) {
	t.Helper()
	var out []byte
	chunks := 0
	for {
		b, err := st.Next(testCtx(t))
		if err == io.EOF {
			return out, chunks, nil
		}
		if err != nil {
			return out, chunks, err
		}
		out = append(out, b...)
		chunks++
	}
}

// TestStreamedResponse: a handler writing 2 MiB in 100 KiB parts reaches
// DoStream as chunks of at most the 64 KiB frame size (never held whole),
// on a Channel and on a pooled Client; Do on the same path gets it whole;
// an error after the first part ends the stream with that error.
func TestStreamedResponse(t *testing.T) {
	addr, _ := streamServer(t)
	c := dialT(t, addr)
	ch, err := c.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	const n = 2 << 20
	path := fmt.Sprintf("/download?n=%d&chunk=%d", n, 100<<10)
	st, err := ch.DoStream(testCtx(t), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, chunks, err := readAll(t, st)
	if err != nil || !bytes.Equal(got, pattern(n)) {
		t.Fatalf("streamed %d bytes in %d chunks, %v", len(got), chunks, err)
	}
	if chunks < n/DefaultFrameSize {
		t.Fatalf("%d chunks for %d bytes: the response was not streamed", chunks, n)
	}
	st.Close()

	pool, err := NewClient(testCtx(t), addr, WithLogger(quietLogger()), WithPool(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for range 2 { // the one pooled channel comes back after each stream
		st, err := pool.DoStream(testCtx(t), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, _, err := readAll(t, st); err != nil || len(got) != n {
			t.Fatalf("pooled stream: %d bytes, %v", len(got), err)
		}
	}
	if resp, err := pool.Do(testCtx(t), path, nil); err != nil || !bytes.Equal(resp, pattern(n)) {
		t.Fatalf("Do on a streamed path: %d bytes, %v", len(resp), err)
	}

	st, err = ch.DoStream(testCtx(t), "/fail-after", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err = readAll(t, st)
	if string(got) != "part one" || !errors.Is(err, ErrHandler) {
		t.Fatalf("failing stream: %q then %v; want the part, then ErrHandler", got, err)
	}
	if _, err := ch.Do(testCtx(t), "/fail-after", nil); !errors.Is(err, ErrHandler) {
		t.Fatalf("Do on a failing stream: %v", err)
	}
	// A path that does not stream answers DoStream in one chunk, errors
	// included.
	st, err = ch.DoStream(testCtx(t), "/echo", []byte("plain"))
	if err != nil {
		t.Fatal(err)
	}
	if got, chunks, err := readAll(t, st); err != nil || string(got) != "plain" || chunks != 1 {
		t.Fatalf("plain answer: %q in %d chunks, %v", got, chunks, err)
	}
	st, err = ch.DoStream(testCtx(t), "/missing", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := readAll(t, st); !errors.Is(err, ErrNoHandler) {
		t.Fatalf("stream of an unknown path: %v", err)
	}
}

// TestStreamedResponseClose: closing a stream early ends the handler's
// context (cancel), the rest is dropped, and the channel serves the next
// call.
func TestStreamedResponseClose(t *testing.T) {
	addr, ended := streamServer(t)
	c := dialT(t, addr)
	ch, err := c.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	st, err := ch.DoStream(testCtx(t), "/endless", nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := st.Next(testCtx(t)); err != nil || len(b) == 0 {
		t.Fatalf("first chunk: %d bytes, %v", len(b), err)
	}
	st.Close()
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("handler ended with %v", err)
		}
	case <-testCtx(t).Done():
		t.Fatal("the handler never stopped")
	}
	if resp, err := ch.Do(testCtx(t), "/echo", []byte("next")); err != nil || string(resp) != "next" {
		t.Fatalf("next call: %q, %v", resp, err)
	}
}

// TestStreamedResponseToOtherClients: clients that do not read streamed
// responses (ours with DisableCaps, the deployed-client model) get the
// response whole, and an error 104 past the server's MaxMessageSize; ours
// streams past it.
func TestStreamedResponseToOtherClients(t *testing.T) {
	addr, _ := streamServer(t, WithConfig(Config{MaxMessageSize: 1 << 20}))
	path := fmt.Sprintf("/download?n=%d&chunk=%d", 300<<10, 64<<10)
	old := dialT(t, addr, WithConfig(Config{DisableCaps: true}))
	if resp, err := old.Do(testCtx(t), path, nil); err != nil || !bytes.Equal(resp, pattern(300<<10)) {
		t.Fatalf("without caps: %d bytes, %v", len(resp), err)
	}
	if _, err := old.Do(testCtx(t), fmt.Sprintf("/download?n=%d&chunk=%d", 2<<20, 64<<10), nil); !errors.Is(err, ErrUnknown) {
		t.Fatalf("over MaxMessageSize without caps: %v", err)
	}
	lc := dialDeployedClient(t, addr)
	f, err := lc.Do(0, path, []byte("{}"))
	if err != nil || !bytes.Equal(f.Data, pattern(300<<10)) {
		t.Fatalf("deployed client: %d bytes, %v", len(f.Data), err)
	}
	c := dialT(t, addr)
	st, err := c.channel0().DoStream(testCtx(t), fmt.Sprintf("/download?n=%d&chunk=%d", 3<<20, 1<<20), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := readAll(t, st); err != nil || len(got) != 3<<20 {
		t.Fatalf("streamed past MaxMessageSize: %d bytes, %v", len(got), err)
	}
}
