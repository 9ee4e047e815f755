package iip

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/iip/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

// testTimeout bounds every wait in the tests.
const testTimeout = 10 * time.Second

func testCtx(t testing.TB) context.Context { return testkit.Context(t, testTimeout) }

// logBuffer collects slog output; waitContains waits for a line.
type logBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	notify chan struct{}
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.notify != nil {
		close(l.notify)
		l.notify = nil
	}
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitContains waits until the log contains s, at most testkit.DefaultTimeout:
// the lines tests wait for come after a server timeout of their own (a few
// seconds), and a loaded machine may add more than testTimeout to that.
func (l *logBuffer) waitContains(t *testing.T, s string) {
	t.Helper()
	ctx := testkit.Context(t, testkit.DefaultTimeout)
	for {
		l.mu.Lock()
		if strings.Contains(l.buf.String(), s) {
			l.mu.Unlock()
			return
		}
		if l.notify == nil {
			l.notify = make(chan struct{})
		}
		ch := l.notify
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("log never contained %q:\n%s", s, l.String())
		}
	}
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(&logBuffer{}, nil))
}

// startServer serves s on a loopback port and closes it at cleanup.
func startServer(t testing.TB, s *Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return l.Addr().String()
}

// echoServer returns a server with /echo plus whatever extra handlers.
// Its logger is quiet unless opts set another.
func echoServer(t testing.TB, opts ...ServerOption) (*Server, string) {
	t.Helper()
	s := newServerT(t, opts...)
	s.HandleFunc("/echo", func(ctx context.Context, r *Request) ([]byte, error) { return r.Data, nil })
	return s, startServer(t, s)
}

// newServerT returns NewServer(opts...), with a quiet logger unless opts
// set another, and fails the test on an error.
func newServerT(t testing.TB, opts ...ServerOption) *Server {
	t.Helper()
	s, err := NewServer(append([]ServerOption{WithLogger(quietLogger())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// clientOptionsT returns the settings opts make, with their defaults, and
// fails the test on an error.
func clientOptionsT(t testing.TB, opts ...ClientOption) clientOptions {
	t.Helper()
	o, err := newClientOptions(opts)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// dialT dials addr with opts, with a quiet logger unless opts set another.
func dialT(t testing.TB, addr string, opts ...ClientOption) *Conn {
	t.Helper()
	c, err := Dial(testCtx(t), addr, append([]ClientOption{WithLogger(quietLogger())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSmokeEcho(t *testing.T) {
	_, addr := echoServer(t)
	c := dialT(t, addr)
	if got := c.acceptedCaps(); len(got) != 9 {
		t.Fatalf("caps %v", got)
	}
	ch, err := c.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ch.Do(testCtx(t), "/echo", []byte("hello"))
	if err != nil || string(resp) != "hello" {
		t.Fatalf("resp %q err %v", resp, err)
	}
	_, err = ch.Do(testCtx(t), "/nope", []byte("x"))
	if !errors.Is(err, ErrNoHandler) {
		t.Fatalf("err %v, want ErrNoHandler", err)
	}
}

func slogTo(l *logBuffer) *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }
