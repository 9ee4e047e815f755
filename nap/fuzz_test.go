package nap

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// FuzzSession feeds arbitrary peer bytes to a server session over
// net.Pipe: the session must never panic and must close (at the latest when
// the peer's bytes end), with every goroutine gone.
func FuzzSession(f *testing.F) {
	for _, seed := range fuzzSessionSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := net.Pipe()
		s, err := Server(a, &Config{
			HandshakeTimeout:     5 * time.Second,
			KeepAliveInterval:    -1,
			MaxMessageSize:       4096,
			MaxFrameSize:         2048,
			StreamWindow:         4096,
			ConnWindow:           8192,
			MaxConcurrentStreams: 4,
		})
		if err != nil {
			t.Fatal(err)
		}
		appDone := make(chan struct{})
		go func() { // an application that uses every API
			defer close(appDone)
			for i := 0; ; i++ {
				st, err := s.AcceptStream(context.Background())
				if err != nil {
					return
				}
				switch i % 3 {
				case 0:
					if m, err := st.Recv(); err == nil {
						st.SendAndClose(m)
					}
				case 1:
					st.Reset(CodeCancel)
				case 2:
					st.Send([]byte("hello"))
					st.Close()
				}
			}
		}()
		readDone := make(chan struct{})
		go func() {
			io.Copy(io.Discard, b)
			close(readDone)
		}()
		b.SetWriteDeadline(time.Now().Add(5 * time.Second))
		b.Write(data)
		b.Close()
		select {
		case <-s.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("session did not close after the peer went away")
		}
		s.Close()
		<-appDone
		<-readDone
		// The buffer accounting never goes negative.
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.held < 0 {
			t.Fatalf("session holds %d bytes", s.held)
		}
		for id, st := range s.streams {
			if st.held < 0 {
				t.Fatalf("stream %d holds %d bytes", id, st.held)
			}
		}
	})
}

func fuzzSessionSeeds() [][]byte {
	cat := func(frames ...[]byte) []byte {
		var b []byte
		for _, f := range frames {
			b = append(b, f...)
		}
		return b
	}
	return [][]byte{
		{},
		cat(rawSettings()),
		cat(rawSettings(), rawFrame(0, 2, 1, []byte("hello"))),
		cat(rawSettings(), rawFrame(0, 1, 1, []byte("he")), rawFrame(0, 2, 1, []byte("llo")), rawFrame(0, 0, 3, []byte("x")), rawFrame(4, 0, 3, []byte{0, 0, 0, 4})),
		cat(rawSettings(), rawFrame(3, 0, 0, []byte{0, 0, 1, 0}), rawFrame(1, 0, 0, nil), rawFrame(5, 0, 0, []byte{0, 0, 0, 0, 0, 0, 0, 0})),
		cat(rawFrame(0, 0, 7, []byte("legacy")), rawFrame(1, 0, 0, nil), rawFrame(0, 0, 8, []byte("again"))),
		cat(rawFrame(1, 0, 0, nil), rawSettings()),
		cat(rawSettings(), rawFrame(0, 1, 1, make([]byte, 2048)), rawFrame(0, 1, 1, make([]byte, 2048)), rawFrame(0, 1, 1, make([]byte, 2048))),
		{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0},
	}
}
