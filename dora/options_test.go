package dora_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/nap"
)

// serverPerfOptions are the server's performance options, off and on: every test below
// runs each of their code paths.
var serverPerfOptions = []struct {
	name    string
	opts    []dora.ServerOption
	workers bool
}{
	{"default", nil, false},
	{"IdleCallWorkers", []dora.ServerOption{dora.IdleCallWorkers(2)}, true},
	{"LazyCallContext", []dora.ServerOption{dora.LazyCallContext(true)}, false},
	{"both", []dora.ServerOption{dora.IdleCallWorkers(2), dora.LazyCallContext(true)}, true},
}

// TestServerPerfOptionsCalls: concurrent unary and streaming calls are answered with every
// combination of the options; with IdleCallWorkers the workers are reused (fewer started
// than calls), and Stop ends the idle ones (goleak in TestMain).
func TestServerPerfOptionsCalls(t *testing.T) {
	for _, tc := range serverPerfOptions {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, nil, tc.opts...)
			ec := echo.NewEchoClient(newTestClient(t, ts.addr))
			const callers, calls = 8, 25
			errc := make(chan error, callers)
			var wg sync.WaitGroup
			for g := range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range calls {
						text := fmt.Sprint(g, "/", i)
						resp, err := ec.Say(testCtx(t), &echo.SayRequest{Text: text})
						if err != nil {
							errc <- err
							return
						}
						if resp.Text != text {
							errc <- fmt.Errorf("got %q, want %q", resp.Text, text)
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
			st, err := ec.Count(testCtx(t), &echo.CountRequest{From: 1, To: 5})
			if err != nil {
				t.Fatal(err)
			}
			for want := int32(1); ; want++ {
				m, err := st.Recv()
				if err == io.EOF {
					if want != 6 {
						t.Fatalf("stream ended after %d numbers, want 5", want-1)
					}
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if m.N != want {
					t.Fatalf("got %d, want %d", m.N, want)
				}
			}
			started := dora.CallWorkersStarted(ts.srv)
			switch {
			case !tc.workers && started != 0:
				t.Fatalf("%d call workers started without IdleCallWorkers", started)
			case tc.workers && (started == 0 || started >= callers*calls+1):
				t.Fatalf("%d call workers started for %d calls, want some reused", started, callers*calls+1)
			}
		})
	}
}

// TestServerPerfOptionsContext: the handler's context is the same with every combination
// of the options: cancelled by the client's cancel (cause: nap's reset), by the deadline,
// and once the call is over, whether or not the handler looked at it during the call.
func TestServerPerfOptionsContext(t *testing.T) {
	for _, tc := range serverPerfOptions {
		t.Run(tc.name, func(t *testing.T) {
			kept := make(chan context.Context, 1)
			started := make(chan struct{}, 1)
			cause := make(chan error, 1)
			impl := &echoImpl{onSay: func(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
				switch in.Text {
				case "wait":
					started <- struct{}{}
					<-ctx.Done()
					cause <- context.Cause(ctx)
					return nil, ctx.Err()
				case "look":
					_ = ctx.Err() // builds a lazy context during the call
				}
				kept <- ctx
				return &echo.SayResponse{Text: in.Text}, nil
			}}
			ts := startServer(t, impl, tc.opts...)
			ec := echo.NewEchoClient(newTestClient(t, ts.addr))

			// Client cancel.
			ctx, cancel := contextWithCancel(t)
			errc := make(chan error, 1)
			go func() {
				_, err := ec.Say(ctx, &echo.SayRequest{Text: "wait"})
				errc <- err
			}()
			<-started
			cancel()
			if err := <-errc; status.Code(err) != codes.Canceled {
				t.Fatalf("client err = %v, want Canceled", err)
			}
			var se *nap.StreamError
			if err := <-cause; !errors.As(err, &se) {
				t.Fatalf("cause = %v, want nap's reset", err)
			}

			// Deadline.
			_, err := ec.Say(testCtx(t), &echo.SayRequest{Text: "wait"}, dora.Timeout(50*time.Millisecond))
			if status.Code(err) != codes.DeadlineExceeded {
				t.Fatalf("err = %v, want DeadlineExceeded", err)
			}
			<-started
			if err := <-cause; err == nil {
				t.Fatal("no cause after the deadline")
			}

			// The call is over.
			for _, text := range []string{"skip", "look"} {
				if _, err := ec.Say(testCtx(t), &echo.SayRequest{Text: text}); err != nil {
					t.Fatal(err)
				}
				hctx := <-kept
				select {
				case <-hctx.Done():
				case <-testCtx(t).Done():
					t.Fatalf("%s: the handler's context is not done after the call", text)
				}
				if hctx.Err() == nil {
					t.Fatalf("%s: Err is nil once Done is closed", text)
				}
			}
		})
	}
}

// TestServerRefusesInvalidNapConfig: a nap configuration out of range (nap.VerifyConfig)
// makes Serve fail at once, nothing clamped.
func TestServerRefusesInvalidNapConfig(t *testing.T) {
	cases := []struct {
		name string
		opt  dora.ServerOption
	}{
		{"WithNapConfig", dora.WithNapConfig(nap.Config{MaxFrameSize: 10})},
		{"MaxRecvMsgSize", dora.MaxRecvMsgSize(-1)},
		{"MaxConcurrentCalls", dora.MaxConcurrentCalls(-1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := dora.NewServer(dora.WithLogger(quietLogger), tc.opt)
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Serve(lis); !errors.Is(err, nap.ErrInvalidConfig) {
				t.Fatalf("Serve = %v, want nap.ErrInvalidConfig", err)
			}
		})
	}
}

// TestSharedTLSOption: one WithTLS value, holding both sides' fields, is given to NewServer
// and to NewClient (peers that both serve and call). The call works over mutual TLS, and the
// server really applied it: a client without a certificate, or in plaintext, fails.
func TestSharedTLSOption(t *testing.T) {
	pki := makeCerts(t)
	peer := pki.Issue(t, "dora peer", x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	tlsOpt := dora.WithTLS(&tls.Config{
		// Served, and presented as the client's certificate.
		Certificates: []tls.Certificate{peer},
		// The client verifies the server.
		RootCAs:    pki.Pool,
		ServerName: "127.0.0.1",
		// The server verifies the client.
		ClientCAs:  pki.Pool,
		ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS12,
	})
	ts := startServer(t, nil, tlsOpt)
	goodCall(t, newTestClient(t, ts.addr, tlsOpt), "shared WithTLS")

	for _, bad := range []struct {
		name string
		opts []dora.ClientOption
	}{
		{"no client certificate", []dora.ClientOption{dora.WithTLS(pki.ClientConfig(false))}},
		{"plaintext", nil},
	} {
		t.Run(bad.name, func(t *testing.T) {
			c := newTestClient(t, ts.addr, append(bad.opts, dora.WithDialTimeout(2*time.Second), dora.WithNapConfig(nap.Config{HandshakeTimeout: 2 * time.Second}))...)
			_, err := echo.NewEchoClient(c).Say(testCtx(t), &echo.SayRequest{Text: "x"}, dora.Timeout(5*time.Second))
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("Say = %v, want Unavailable (no session with the mutual TLS server)", err)
			}
		})
	}
}

// sideCounter counts the calls a StatsHandler saw, by side.
type sideCounter struct {
	mu             sync.Mutex
	client, server int
}

func (s *sideCounter) CallBegin(ctx context.Context, info *dora.CallInfo) context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	if info.Client {
		s.client++
	} else {
		s.server++
	}
	return ctx
}

func (s *sideCounter) CallEnd(context.Context, *dora.CallStats) {}

// TestSharedOptions: every Option (WithTLS, WithNapConfig, WithLogger, WithStats,
// WithCompressionThreshold) is one value usable by both constructors; a nil option is
// ignored by both.
func TestSharedOptions(t *testing.T) {
	var _ []dora.Option = []dora.Option{
		dora.WithTLS(nil), dora.WithNapConfig(nap.Config{}), dora.WithLogger(nil),
		dora.WithStats(nil), dora.WithCompressionThreshold(0),
	}
	counter := &sideCounter{}
	shared := []dora.Option{
		dora.WithStats(counter), dora.WithLogger(quietLogger), dora.WithCompressionThreshold(1 << 20),
		dora.WithNapConfig(nap.Config{MaxFrameSize: 1 << 15}),
	}
	srvOpts := []dora.ServerOption{nil}
	cliOpts := []dora.ClientOption{nil}
	for _, o := range shared {
		srvOpts = append(srvOpts, o)
		cliOpts = append(cliOpts, o)
	}
	ts := startServer(t, nil, srvOpts...)
	goodCall(t, newTestClient(t, ts.addr, cliOpts...), "shared options")
	// Both CallBegins ran before the answer reached the client.
	counter.mu.Lock()
	defer counter.mu.Unlock()
	if counter.client != 1 || counter.server != 1 {
		t.Fatalf("one WithStats value saw %d client and %d server calls, want 1 and 1", counter.client, counter.server)
	}
}

// TestClientOptionDefaults: the client options whose zero or out-of-order values mean a
// default resolve as their doc comments say.
func TestClientOptionDefaults(t *testing.T) {
	cases := []struct {
		name     string
		opts     []dora.ClientOption
		conns    int
		base, hi time.Duration
		dial     time.Duration
	}{
		{"none", nil, dora.DefaultMaxConns, dora.DefaultBackoffBase, dora.DefaultBackoffMax, dora.DefaultDialTimeout},
		{"given", []dora.ClientOption{dora.WithMaxConns(2), dora.WithBackoff(time.Second, 20*time.Second), dora.WithDialTimeout(time.Second)},
			2, time.Second, 20 * time.Second, time.Second},
		{"zero", []dora.ClientOption{dora.WithMaxConns(0), dora.WithBackoff(0, 0), dora.WithDialTimeout(0)},
			dora.DefaultMaxConns, dora.DefaultBackoffBase, dora.DefaultBackoffMax, dora.DefaultDialTimeout},
		{"negative", []dora.ClientOption{dora.WithMaxConns(-3), dora.WithBackoff(-time.Second, -time.Second), dora.WithDialTimeout(-time.Second)},
			dora.DefaultMaxConns, dora.DefaultBackoffBase, dora.DefaultBackoffMax, dora.DefaultDialTimeout},
		{"max below base", []dora.ClientOption{dora.WithBackoff(time.Second, time.Millisecond)},
			dora.DefaultMaxConns, time.Second, dora.DefaultBackoffMax, dora.DefaultDialTimeout},
		{"max below a large base", []dora.ClientOption{dora.WithBackoff(time.Minute, 0)},
			dora.DefaultMaxConns, time.Minute, time.Minute, dora.DefaultDialTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := dora.NewClient("127.0.0.1:1", tc.opts...) // never dialled
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			conns, base, hi, dial := dora.ClientSettings(c)
			if conns != tc.conns || base != tc.base || hi != tc.hi || dial != tc.dial {
				t.Fatalf("got conns %d, backoff %v..%v, dial timeout %v; want %d, %v..%v, %v",
					conns, base, hi, dial, tc.conns, tc.base, tc.hi, tc.dial)
			}
		})
	}
}
