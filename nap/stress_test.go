package nap

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/seed857a6cbd/pocket/nap/internal/testkit"
)

// TestStreamLifecyclesRelease runs many streams through every way of
// ending (normal, half-close races, resets and closes from either side,
// messages over the limit) and checks that both sessions forget every
// stream: no tombstone or slot is leaked, and Shutdown completes.
func TestStreamLifecyclesRelease(t *testing.T) {
	cfg := &Config{StreamWindow: 16 << 10, ConnWindow: 64 << 10, MaxMessageSize: 100 << 10}
	c, s := pair(t, cfg, cfg)
	ctx := testCtx(t)
	const n = 300
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // server: behaviour chosen by the first message
		defer wg.Done()
		for {
			st, err := s.AcceptStream(context.Background())
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer st.Close()
				m, err := st.Recv()
				if err != nil {
					return
				}
				switch string(m) {
				case "reset":
					st.Reset(CodeApplication)
				case "close":
					st.Close()
				case "early-answer": // answer without reading the rest
					st.SendAndClose([]byte("done"))
				default:
					for err == nil {
						if err = st.Send(m); err != nil {
							return
						}
						m, err = st.Recv()
					}
					if err == io.EOF {
						st.CloseSend()
					}
				}
			}()
		}
	}()
	var cwg sync.WaitGroup
	for i := 0; i < n; i++ {
		cwg.Add(1)
		go func(i int) {
			defer cwg.Done()
			st, err := c.OpenStream(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			defer st.Close()
			switch i % 7 {
			case 0: // unary
				st.SendAndClose([]byte(fmt.Sprint(i)))
				st.Recv()
				st.Recv()
			case 1: // server resets
				st.Send([]byte("reset"))
				st.Send(make([]byte, 50<<10))
				st.Recv()
			case 2: // server closes
				st.SendAndClose([]byte("close"))
				st.Recv()
			case 3: // client resets in the middle of a large message
				st.Send([]byte("echo"))
				go st.Reset(CodeCancel)
				st.Send(make([]byte, 80<<10))
			case 4: // message over the server's limit
				st.Send([]byte("echo"))
				st.Recv()
				st.Send(make([]byte, 100<<10+1))
			case 5: // server answers early, client keeps sending
				st.Send([]byte("early-answer"))
				st.Send(make([]byte, 40<<10))
				st.Recv()
			case 6: // streaming, client closes without reading everything
				for j := 0; j < 5; j++ {
					st.Send(make([]byte, 5000))
				}
				st.Recv()
			}
		}(i)
	}
	cwg.Wait()
	testkit.WaitFor(t, testCtx(t), "all streams released", func() bool { return c.NumStreams() == 0 && s.NumStreams() == 0 })
	if c.Err() != nil || s.Err() != nil {
		t.Fatalf("sessions failed: %v / %v", c.Err(), s.Err())
	}
	if m, err := call(ctx, c, []byte("still fine")); err != nil || string(m) != "still fine" {
		t.Fatalf("%q %v", m, err)
	}
	testkit.WaitFor(t, testCtx(t), "last stream released", func() bool { return c.NumStreams() == 0 && s.NumStreams() == 0 })
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	wg.Wait()
}
