package dora_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/internal/testkit"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

// testTimeout bounds every wait of the tests.
const testTimeout = 10 * time.Second

func testCtx(t testing.TB) context.Context { return testkit.Context(t, testTimeout) }

// quietLogger discards logs; panicLogger captures them.
var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

type logBuf struct {
	mu sync.Mutex
	sb strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sb.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sb.String()
}

// echoImpl is the test implementation of echo.EchoServer. Hooks let tests block or inspect.
type echoImpl struct {
	echo.UnimplementedEchoServer
	onSay func(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error)
}

func (e *echoImpl) Say(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
	if e.onSay != nil {
		return e.onSay(ctx, in)
	}
	return &echo.SayResponse{Text: in.Text, Blob: in.Blob}, nil
}

func (e *echoImpl) Count(in *echo.CountRequest, stream dora.ServerStreamingServer[echo.CountResponse]) error {
	if in.From > in.To {
		return status.Errorf(codes.InvalidArgument, "from %d > to %d", in.From, in.To)
	}
	if int64(in.To)-int64(in.From) > 1000 {
		return status.Errorf(codes.OutOfRange, "at most 1000 numbers")
	}
	if md, ok := metadata.FromIncomingContext(stream.Context()); ok && md.Get("x-header") != "" {
		if err := stream.SendHeader(metadata.Pairs("x-header", md.Get("x-header"))); err != nil {
			return err
		}
	}
	for i := in.From; i <= in.To; i++ {
		if err := stream.Send(&echo.CountResponse{N: i}); err != nil {
			return err
		}
	}
	stream.SetTrailer(metadata.Pairs("x-count", fmt.Sprint(in.To-in.From+1)))
	return nil
}

func (e *echoImpl) Collect(stream dora.ClientStreamingServer[echo.SayRequest, echo.SayResponse]) error {
	var parts []string
	for {
		in, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&echo.SayResponse{Text: strings.Join(parts, ",")})
		}
		if err != nil {
			return err
		}
		if in.Text == "fail" {
			return status.Error(codes.FailedPrecondition, "told to fail")
		}
		parts = append(parts, in.Text)
	}
}

func (e *echoImpl) Chat(stream dora.BidiStreamingServer[echo.SayRequest, echo.SayResponse]) error {
	for {
		in, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&echo.SayResponse{Text: "re:" + in.Text}); err != nil {
			return err
		}
	}
}

// testServer is a running server on 127.0.0.1.
type testServer struct {
	srv  *dora.Server
	addr string
	done chan error
}

// startServer starts a server with the echo service (impl may be nil for the default) and
// registers its stop with t.Cleanup.
func startServer(t testing.TB, impl echo.EchoServer, opts ...dora.ServerOption) *testServer {
	t.Helper()
	return startServerOn(t, "127.0.0.1:0", func(s *dora.Server) {
		if impl == nil {
			impl = &echoImpl{}
		}
		echo.RegisterEchoServer(s, impl)
	}, opts...)
}

func startServerOn(t testing.TB, addr string, register func(*dora.Server), opts ...dora.ServerOption) *testServer {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]dora.ServerOption{dora.WithLogger(quietLogger)}, opts...)
	ts := &testServer{srv: dora.NewServer(opts...), addr: lis.Addr().String(), done: make(chan error, 1)}
	register(ts.srv)
	go func() { ts.done <- ts.srv.Serve(lis) }()
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) stop() {
	ts.srv.Stop()
	<-ts.done
	ts.done <- nil // later stops return at once
}

func newTestClient(t testing.TB, addr string, opts ...dora.ClientOption) *dora.Client {
	t.Helper()
	opts = append([]dora.ClientOption{dora.WithLogger(quietLogger)}, opts...)
	c, err := dora.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var (
	certsOnce sync.Once
	testCerts *testkit.PKI
)

// makeCerts returns the test CA with its server and client certificates, made once per run
// (the TLS cases of the e2e matrix ask for the server and the client side separately).
func makeCerts(t testing.TB) *testkit.PKI {
	certsOnce.Do(func() { testCerts = testkit.NewPKI(t, "dora test CA") })
	return testCerts
}

func contextWithCancel(t testing.TB) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(testCtx(t))
	t.Cleanup(cancel)
	return ctx, cancel
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func protoreflectString(s string) protoreflect.Value { return protoreflect.ValueOfString(s) }
