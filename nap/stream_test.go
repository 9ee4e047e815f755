package nap

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// TestStreamContext: a stream's context stays live while the stream finishes normally and
// is done once Close is called (cause ErrStreamClosed), or at once when the stream is
// reset (cause the reset, which Close then keeps).
func TestStreamContext(t *testing.T) {
	cases := []struct {
		name      string
		reset     bool
		wantCause func(error) bool
	}{
		{"finished then closed", false, func(err error) bool { return errors.Is(err, ErrStreamClosed) }},
		{"reset then closed", true, func(err error) bool {
			var se *StreamError
			return errors.As(err, &se) && se.Code == CodeCancel
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := echoPair(t, nil, nil)
			st, err := c.OpenStream(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			ctx := st.Context()
			if tc.reset {
				if err := st.Reset(CodeCancel); err != nil {
					t.Fatal(err)
				}
				<-ctx.Done()
			} else {
				if err := st.SendAndClose([]byte("ping")); err != nil {
					t.Fatal(err)
				}
				if _, err := st.Recv(); err != nil {
					t.Fatal(err)
				}
				if _, err := st.Recv(); err == nil {
					t.Fatal("Recv after the echo: want EOF")
				}
				if ctx.Err() != nil {
					t.Fatalf("context done (%v) after a normal finish, before Close", context.Cause(ctx))
				}
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			<-ctx.Done()
			if cause := context.Cause(ctx); !tc.wantCause(cause) {
				t.Fatalf("cause %v", cause)
			}
		})
	}
}

// TestCoalescedFlush runs the writer's coalescing path at GOMAXPROCS 1 and 2: with many
// streams active, senders leave small frames in the write buffer and the writer goroutine
// yields once (letting ready senders add theirs) before one flush. Every echo must come
// back intact, and the path must have run.
func TestCoalescedFlush(t *testing.T) {
	const streams, msgs = 64, 20
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			c, s := echoPair(t, nil, nil)
			errc := make(chan error, streams)
			var wg sync.WaitGroup
			for i := range streams {
				wg.Add(1)
				go func() {
					defer wg.Done()
					st, err := c.OpenStream(testCtx(t))
					if err != nil {
						errc <- err
						return
					}
					defer st.Close()
					for j := range msgs {
						want := fmt.Sprintf("stream %d message %d", i, j)
						if err := st.Send([]byte(want)); err != nil {
							errc <- err
							return
						}
						got, err := st.Recv()
						if err != nil {
							errc <- err
							return
						}
						if string(got) != want {
							errc <- fmt.Errorf("got %q, want %q", got, want)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
			yields := c.flushYields.Load() + s.flushYields.Load()
			if yields == 0 {
				t.Fatalf("no coalesced flush in %d echoes on %d streams", streams*msgs, streams)
			}
			t.Logf("%d writer yields (client %d, server %d) for %d echoes", yields, c.flushYields.Load(), s.flushYields.Load(), streams*msgs)
		})
	}
}
