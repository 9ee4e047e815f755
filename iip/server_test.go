package iip

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/iip/internal/testkit"
)

// TestBadInputClosesOnlyThatConnection feeds broken frames on one
// connection and checks that it alone is closed, with a clear log line.
func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	var log logBuffer
	addr := compatServer(t, &log)
	good := dialT(t, addr)
	goodCh, err := good.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	long := bytes.Repeat([]byte("a"), MaxPathLen+10)
	cases := []struct {
		name    string
		bytes   []byte
		wantLog string
	}{
		{"path without NUL", append([]byte{1}, long...), "path has no NUL within 2048 bytes"},
		{"length over limit", []byte("\x01/echo\x00\x00\x00\x00\x00\x01\x00\x00\x01"), "frame data length 16777217 exceeds limit 16777216"},
		{"zero length", []byte("\x01/echo\x00\x00\x00\x00\x00\x00\x00\x00\x00"), "zero data length"},
		{"continuation without first", rawFrame(3, "/echo", 0, "x"), "continuation frame without a first frame on channel 0"},
		{"first while incomplete", append(rawFrame(0, "/echo", 0, "x"), rawFrame(1, "/echo", 0, "y")...), "first frame while a request is incomplete on channel 0"},
		{"unknown channel", rawFrame(1, "/echo", 7, "x"), "request for unknown channel 7"},
		{"unknown status", rawFrame(9, "/echo", 0, "x"), "unknown frame status 9"},
		{"response from client", rawFrame(5, "/echo", 0, "x"), "client sent a response frame on channel 0"},
		{"empty path", rawFrame(1, "", 0, "x"), "empty path in request frame"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rawDial(t, addr)
			r.send(tc.bytes)
			r.expectClosed()
			// The server logs after closing; wait for the line via the
			// connection list, then check the other client still works.
			resp, err := goodCh.Do(testCtx(t), "/echo", []byte("still here"))
			if err != nil || string(resp) != "still here" {
				t.Fatalf("other connection broken: %q, %v", resp, err)
			}
			log.waitContains(t, tc.wantLog)
			if !strings.Contains(log.String(), "iip: closing connection") {
				t.Fatalf("log lacks the closing line:\n%s", log.String())
			}
		})
	}
}

func TestLimits(t *testing.T) {
	t.Run("channels", func(t *testing.T) {
		_, addr := echoServer(t, WithLimits(Limits{MaxChannels: 2}))
		c := dialT(t, addr)
		for range 2 {
			if _, err := c.NewChannel(testCtx(t)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.NewChannel(testCtx(t)); !errors.Is(err, ErrChannelLimit) {
			t.Fatalf("err %v, want ErrChannelLimit", err)
		}
	})
	t.Run("connections", func(t *testing.T) {
		_, addr := echoServer(t, WithLimits(Limits{MaxConns: 1}))
		dialT(t, addr)
		_, err := Dial(testCtx(t), addr, WithLogger(quietLogger()))
		if !errors.Is(err, ErrServerConnLimit) {
			t.Fatalf("err %v, want ErrServerConnLimit", err)
		}
	})
	t.Run("connections legacy", func(t *testing.T) {
		_, addr := echoServer(t, WithLimits(Limits{MaxConns: 1}))
		dialT(t, addr)
		r := rawDial(t, addr)
		r.send(rawFrame(1, "/sys/new_channel", 0, "{}"))
		r.expect(rawResp{5, "/sys/new_channel", 0, `{"code":107,"message":"server connection limit 1 reached"}`})
		r.expect(rawResp{8, "", 0, "{}"})
		r.expectClosed()
	})
	t.Run("message size", func(t *testing.T) {
		_, addr := echoServer(t, WithConfig(Config{MaxMessageSize: 1000}))
		c := dialT(t, addr)
		_, err := c.Do(testCtx(t), "/echo", make([]byte, 1001))
		if !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), "exceeds limit 1000") {
			t.Fatalf("err %v", err)
		}
		// The connection is intact.
		if resp, err := c.Do(testCtx(t), "/echo", []byte("ok")); err != nil || string(resp) != "ok" {
			t.Fatalf("got %q, %v", resp, err)
		}
	})
	t.Run("message size over continuation frames", func(t *testing.T) {
		_, addr := echoServer(t, WithConfig(Config{MaxMessageSize: 4}))
		r := rawDial(t, addr)
		r.send(append(rawFrame(0, "/echo", 0, "abc"), rawFrame(3, "/echo", 0, "def")...))
		r.expect(rawResp{5, "/echo", 0, `{"code":104,"message":"request of 6 bytes exceeds limit 4"}`})
		r.send(rawFrame(1, "/echo", 0, "ok"))
		r.expect(rawResp{5, "/echo", 0, "ok"})
	})
	t.Run("client response size", func(t *testing.T) {
		s, addr := echoServer(t)
		s.HandleFunc("/big", func(ctx context.Context, r *Request) ([]byte, error) { return make([]byte, 201), nil })
		c := dialT(t, addr, WithConfig(Config{MaxMessageSize: 200})) // the handshake's answer is 121 bytes
		if _, err := c.Do(testCtx(t), "/big", nil); !errors.Is(err, ErrMessageTooLarge) {
			t.Fatalf("err %v", err)
		}
		if resp, err := c.Do(testCtx(t), "/echo", []byte("ok")); err != nil || string(resp) != "ok" {
			t.Fatalf("after a dropped response: %q, %v", resp, err)
		}
	})
}

// TestLargeMessages sends and receives a message over 16 MiB, which
// travels as a first frame plus continuation frames both ways (frames of
// 16 MiB: the client does not offer "frame-size").
func TestLargeMessages(t *testing.T) {
	s, addr := echoServer(t, WithConfig(Config{MaxMessageSize: 40 << 20}))
	s.HandleStream("/count", func(ctx context.Context, r *StreamRequest) ([]byte, error) {
		n, chunks := 0, 0
		for {
			b, err := r.Next(ctx)
			if err == io.EOF {
				return []byte(strings.Repeat("c", chunks) + ":" + string(rune('0'+n%10))), nil
			}
			if err != nil {
				return nil, err
			}
			n += len(b)
			chunks++
		}
	})
	c := dialT(t, addr, WithConfig(Config{MaxMessageSize: 40 << 20, FrameSize: -1}))
	big := make([]byte, MaxFrameData+12345)
	for i := range big {
		big[i] = byte(i % 251)
	}
	// The kit's bound for a loaded machine: 16 MiB each way takes seconds
	// under the race detector.
	resp, err := c.Do(testkit.Context(t, testkit.DefaultTimeout), "/echo", big)
	if err != nil || !bytes.Equal(resp, big) {
		t.Fatalf("echo of %d bytes: len %d, %v", len(big), len(resp), err)
	}
	resp, err = c.Do(testkit.Context(t, testkit.DefaultTimeout), "/count", big)
	if err != nil || string(resp) != "cc:"+string(rune('0'+len(big)%10)) {
		t.Fatalf("stream: %q, %v", resp, err)
	}
}

func TestHandlerContextCancelledOnConnectionLoss(t *testing.T) {
	s, addr := echoServer(t)
	started, cancelled := make(chan struct{}), make(chan struct{})
	s.HandleFunc("/wait", func(ctx context.Context, r *Request) ([]byte, error) {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return nil, ctx.Err()
	})
	r := rawDial(t, addr)
	r.send(rawFrame(1, "/wait", 0, "{}"))
	<-started
	r.c.Close()
	select {
	case <-cancelled:
	case <-testCtx(t).Done():
		t.Fatal("handler context not cancelled")
	}
}

func TestShutdownDrains(t *testing.T) {
	s := newServerT(t, WithLogger(quietLogger()))
	started, release := make(chan struct{}), make(chan struct{})
	s.HandleFunc("/slow", func(ctx context.Context, r *Request) ([]byte, error) {
		close(started)
		<-release
		return []byte("done"), nil
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	c := dialT(t, l.Addr().String())
	type result struct {
		resp []byte
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := c.Do(testCtx(t), "/slow", nil)
		res <- result{resp, err}
	}()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(testCtx(t)) }()
	// Shutdown closes the listener first: wait until Serve returned.
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	close(release)
	if r := <-res; r.err != nil || string(r.resp) != "done" {
		t.Fatalf("in-flight call: %q, %v", r.resp, r.err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	<-c.Done()
}

func TestShutdownTimeoutCloses(t *testing.T) {
	s := newServerT(t, WithLogger(quietLogger()))
	started := make(chan struct{})
	s.HandleFunc("/stuck", func(ctx context.Context, r *Request) ([]byte, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	addr := startServer(t, s)
	c := dialT(t, addr)
	errc := make(chan error, 1)
	go func() { _, err := c.Do(testCtx(t), "/stuck", nil); errc <- err }()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-errc; err == nil {
		t.Fatal("stuck call succeeded")
	}
}

func TestTLS(t *testing.T) {
	pki := testkit.NewPKI(t, "iip test CA")
	_, addr := echoServer(t, WithTLS(&tls.Config{
		Certificates: []tls.Certificate{pki.Server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pki.Pool,
	}))
	cases := []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{
		{"mutual TLS", &tls.Config{RootCAs: pki.Pool, Certificates: []tls.Certificate{pki.Client}}, true},
		{"no client certificate", &tls.Config{RootCAs: pki.Pool}, false},
		{"unknown server CA", &tls.Config{Certificates: []tls.Certificate{pki.Client}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Dial(testCtx(t), addr, WithTLS(tc.cfg), WithLogger(quietLogger()))
			if !tc.ok {
				if err == nil {
					c.Close()
					t.Fatal("dial succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if resp, err := c.Do(testCtx(t), "/echo", []byte("secret")); err != nil || string(resp) != "secret" {
				t.Fatalf("got %q, %v", resp, err)
			}
			big := bytes.Repeat([]byte("0123456789"), 30000) // vectored writes over TLS
			if resp, err := c.Do(testCtx(t), "/echo", big); err != nil || !bytes.Equal(resp, big) {
				t.Fatalf("large echo over TLS: %d bytes, %v", len(resp), err)
			}
		})
	}
}

func TestConcurrentChannelsIndependent(t *testing.T) {
	addr, started, release := blockingServer(t)
	c := dialT(t, addr)
	slow, err := c.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	fast, err := c.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { _, err := slow.Do(testCtx(t), "/block", []byte("s")); errc <- err }()
	waitStarted(t, started)
	// The fast channel answers while the slow one is busy.
	if resp, err := fast.Do(testCtx(t), "/echo", []byte("f")); err != nil || string(resp) != "f" {
		t.Fatalf("got %q, %v", resp, err)
	}
	close(release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if err := fast.Close(); err != nil {
		t.Fatalf("delete channel: %v", err)
	}
	if _, err := fast.Do(testCtx(t), "/echo", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed channel: %v", err)
	}
}

func TestPanicIsLoggedAndServerLivesOn(t *testing.T) {
	var log logBuffer
	s, addr := echoServer(t, WithLogger(slogTo(&log)))
	s.HandleFunc("/panic", func(ctx context.Context, r *Request) ([]byte, error) { panic("kaboom") })
	c := dialT(t, addr)
	if _, err := c.Do(testCtx(t), "/panic", nil); !errors.Is(err, ErrHandler) || !strings.Contains(err.Error(), "kaboom") {
		t.Fatalf("err %v", err)
	}
	if resp, err := c.Do(testCtx(t), "/echo", []byte("alive")); err != nil || string(resp) != "alive" {
		t.Fatalf("got %q, %v", resp, err)
	}
	out := log.String()
	if !strings.Contains(out, "iip: handler panicked") || !strings.Contains(out, "stack=") || !strings.Contains(out, "goroutine") {
		t.Fatalf("log lacks the panic and its stack:\n%s", out)
	}
}

func TestHandlerTimeout(t *testing.T) {
	s, addr := echoServer(t, WithTimeouts(Timeouts{Handler: 20 * time.Millisecond}))
	s.HandleFunc("/slow", func(ctx context.Context, r *Request) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	c := dialT(t, addr)
	_, err := c.Do(testCtx(t), "/slow", nil)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err %v, want ErrTimeout", err)
	}
	r := rawDial(t, addr)
	r.send(rawFrame(1, "/slow", 0, "{}"))
	r.expect(rawResp{5, "/slow", 0, `{"code":103,"message":"handler for /slow exceeded 20ms"}`})
}

// TestIdleWorkers runs both paths of WithIdleWorkers: with idle workers (the default, and
// 2) a channel with work is handed to a goroutine that finished another channel's queue;
// with none (negative) every burst gets a new goroutine, and no worker is ever reused.
// Every call is answered either way, and Close ends the idle workers (goleak in TestMain).
func TestIdleWorkers(t *testing.T) {
	cases := []struct {
		name   string
		opts   []ServerOption
		reused bool
	}{
		{"default", nil, true},
		{"2", []ServerOption{WithIdleWorkers(2)}, true},
		{"none", []ServerOption{WithIdleWorkers(-1)}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServerT(t, tc.opts...)
			var reused atomic.Int64
			s.testHookWorkerReused = func() { reused.Add(1) }
			s.HandleFunc("/echo", func(ctx context.Context, r *Request) ([]byte, error) { return r.Data, nil })
			addr := startServer(t, s)
			cl, err := NewClient(testCtx(t), addr, WithPool(2, 4), WithLogger(quietLogger()))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			const callers, calls = 8, 25
			echoMany(t, cl, callers, calls)
			switch n := reused.Load(); {
			case tc.reused && n == 0:
				t.Fatalf("no idle worker reused over %d calls", callers*calls)
			case !tc.reused && n != 0:
				t.Fatalf("%d idle workers reused with WithIdleWorkers(-1)", n)
			default:
				t.Logf("%d of %d calls' channels run by a reused worker", n, callers*calls)
			}
		})
	}
}
