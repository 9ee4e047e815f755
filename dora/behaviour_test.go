package dora_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/internal/testpb"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/nap"
)

func TestInterceptorOrder(t *testing.T) {
	var mu sync.Mutex
	var trace []string
	record := func(s string) {
		mu.Lock()
		trace = append(trace, s)
		mu.Unlock()
	}
	srvInt := func(name string) dora.UnaryServerInterceptor {
		return func(ctx context.Context, req any, info *dora.UnaryServerInfo, h dora.UnaryHandler) (any, error) {
			record("server " + name + " before " + info.FullMethod)
			resp, err := h(ctx, req)
			record("server " + name + " after")
			return resp, err
		}
	}
	cliInt := func(name string) dora.UnaryClientInterceptor {
		return func(ctx context.Context, method string, req, resp any, inv dora.UnaryInvoker, opts ...dora.CallOption) error {
			record("client " + name + " before")
			err := inv(ctx, method, req, resp, opts...)
			record("client " + name + " after")
			return err
		}
	}
	impl := &echoImpl{onSay: func(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
		record("handler")
		return &echo.SayResponse{Text: in.Text}, nil
	}}
	ts := startServer(t, impl, dora.ChainUnaryInterceptor(srvInt("1"), srvInt("2")), dora.ChainUnaryInterceptor(srvInt("3")))
	c := newTestClient(t, ts.addr, dora.WithChainUnaryInterceptor(cliInt("A"), cliInt("B")))
	if _, err := echo.NewEchoClient(c).Say(testCtx(t), &echo.SayRequest{Text: "x"}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"client A before", "client B before",
		"server 1 before " + echo.Echo_Say_FullMethodName, "server 2 before " + echo.Echo_Say_FullMethodName,
		"server 3 before " + echo.Echo_Say_FullMethodName, "handler",
		"server 3 after", "server 2 after", "server 1 after",
		"client B after", "client A after",
	}
	if strings.Join(trace, "|") != strings.Join(want, "|") {
		t.Fatalf("trace:\n%s\nwant:\n%s", strings.Join(trace, "\n"), strings.Join(want, "\n"))
	}
}

func TestStreamInterceptors(t *testing.T) {
	var got []string
	var mu sync.Mutex
	srv := func(srv any, ss dora.ServerStream, info *dora.StreamServerInfo, h dora.StreamHandler) error {
		mu.Lock()
		got = append(got, fmt.Sprintf("server %s client=%v server=%v", info.FullMethod, info.IsClientStream, info.IsServerStream))
		mu.Unlock()
		return h(srv, ss)
	}
	cli := func(ctx context.Context, desc *dora.StreamDesc, method string, s dora.Streamer, opts ...dora.CallOption) (dora.ClientStream, error) {
		mu.Lock()
		got = append(got, "client "+method)
		mu.Unlock()
		return s(ctx, desc, method, opts...)
	}
	ts := startServer(t, nil, dora.ChainStreamInterceptor(srv))
	ec := echo.NewEchoClient(newTestClient(t, ts.addr, dora.WithChainStreamInterceptor(cli)))
	st, err := ec.Count(testCtx(t), &echo.CountRequest{From: 1, To: 1})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := st.Recv(); err != nil {
			break
		}
	}
	want := "client " + echo.Echo_Count_FullMethodName + "|server " + echo.Echo_Count_FullMethodName + " client=false server=true"
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, "|") != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestMetadataBothWays(t *testing.T) {
	impl := &echoImpl{onSay: func(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		if md.Get(dora.MetaStatus) != "" {
			return nil, status.Error(codes.Internal, "reserved key reached the handler")
		}
		if err := dora.SetHeader(ctx, metadata.Pairs("x-echo", md.Get("x-user")+"/"+md.Get("x-call"))); err != nil {
			return nil, err
		}
		if err := dora.SetTrailer(ctx, metadata.Pairs("x-trailer", "t")); err != nil {
			return nil, err
		}
		if err := dora.SetHeader(ctx, metadata.Pairs("dora-status", "5")); err == nil {
			return nil, status.Error(codes.Internal, "SetHeader accepted a reserved key")
		}
		return &echo.SayResponse{}, nil
	}}
	ts := startServer(t, impl)
	c := newTestClient(t, ts.addr)
	ctx := metadata.NewOutgoingContext(testCtx(t), metadata.Pairs("x-user", "ann"))
	var hdr, trl metadata.MD
	_, err := echo.NewEchoClient(c).Say(ctx, &echo.SayRequest{},
		dora.WithMetadata(metadata.Pairs("x-call", "c1")), dora.Header(&hdr), dora.Trailer(&trl))
	if err != nil {
		t.Fatal(err)
	}
	// Unary header and trailer arrive apart (PROTOCOL.md §2; metadata_test.go has the rest).
	if hdr.Get("x-echo") != "ann/c1" || hdr.Len() != 1 || trl.Get("x-trailer") != "t" || trl.Len() != 1 {
		t.Fatalf("header = %v, trailer = %v", hdr, trl)
	}
	if _, ok := hdr.Lookup(dora.MetaStatus); ok {
		t.Fatal("reserved key in the header")
	}
	// Reserved keys are refused on the client.
	bad := metadata.NewOutgoingContext(testCtx(t), metadata.Pairs("dora-timeout", "1"))
	if _, err := echo.NewEchoClient(c).Say(bad, &echo.SayRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("reserved outgoing key: err = %v", err)
	}
}

func TestDeadlineExceeded(t *testing.T) {
	handlerDeadline := make(chan time.Duration, 1)
	handlerErr := make(chan error, 1)
	impl := &echoImpl{onSay: func(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
		dl, ok := ctx.Deadline()
		if !ok {
			handlerDeadline <- -1
		} else {
			handlerDeadline <- time.Until(dl)
		}
		<-ctx.Done()
		handlerErr <- ctx.Err()
		return nil, ctx.Err()
	}}
	ts := startServer(t, impl)
	ec := echo.NewEchoClient(newTestClient(t, ts.addr))
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		opts []dora.CallOption
	}{
		{"context deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(testCtx(t), 200*time.Millisecond)
		}, nil},
		{"timeout option", func() (context.Context, context.CancelFunc) { return testCtx(t), func() {} },
			[]dora.CallOption{dora.Timeout(200 * time.Millisecond)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			_, err := ec.Say(ctx, &echo.SayRequest{}, tt.opts...)
			if status.Code(err) != codes.DeadlineExceeded || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want DeadlineExceeded", err)
			}
			if d := <-handlerDeadline; d <= 0 || d > 200*time.Millisecond {
				t.Fatalf("handler deadline in %v, want (0, 200ms]", d)
			}
			if err := <-handlerErr; !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				t.Fatalf("handler ctx err = %v", err)
			}
		})
	}
	// An expired context fails before anything is sent.
	ctx, cancel := context.WithDeadline(testCtx(t), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := ec.Say(ctx, &echo.SayRequest{}); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("expired ctx: err = %v", err)
	}
}

func TestCancelReachesHandler(t *testing.T) {
	started := make(chan struct{})
	cancelled := make(chan error, 1)
	impl := &echoImpl{onSay: func(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
		close(started)
		<-ctx.Done()
		cancelled <- context.Cause(ctx)
		return nil, ctx.Err()
	}}
	ts := startServer(t, impl)
	ec := echo.NewEchoClient(newTestClient(t, ts.addr))
	ctx, cancel := contextWithCancel(t)
	errc := make(chan error, 1)
	go func() {
		_, err := ec.Say(ctx, &echo.SayRequest{})
		errc <- err
	}()
	<-started
	cancel()
	if err := <-errc; status.Code(err) != codes.Canceled {
		t.Fatalf("client err = %v, want Canceled", err)
	}
	select {
	case err := <-cancelled:
		var se *nap.StreamError
		if !errors.As(err, &se) || se.Code != nap.CodeCancel {
			t.Fatalf("handler ctx cause = %v, want the client's CANCEL reset", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("handler context was not cancelled")
	}
}

func TestUnknownMethod(t *testing.T) {
	ts := startServer(t, nil)
	c := newTestClient(t, ts.addr)
	tests := []struct {
		name, method string
	}{
		{"unknown service", "/no.Such/Say"},
		{"unknown method", "/dora.examples.echo.Echo/Nope"},
		{"empty", ""},
		{"bare unknown", "Nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Invoke(testCtx(t), tt.method, &echo.SayRequest{}, &echo.SayResponse{})
			if status.Code(err) != codes.Unimplemented {
				t.Fatalf("err = %v, want Unimplemented", err)
			}
		})
	}
	// Calling a streaming method as unary is refused the same way.
	err := c.Invoke(testCtx(t), echo.Echo_Count_FullMethodName, &echo.CountRequest{}, &echo.CountResponse{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("streaming method as unary: err = %v", err)
	}
}

func TestCodecs(t *testing.T) {
	ts := startServer(t, nil)
	c := newTestClient(t, ts.addr)
	tests := []struct {
		name     string
		codec    string
		wantCode codes.Code
	}{
		{"proto", "proto", codes.OK},
		{"json", "json", codes.OK},
		{"unknown", "xml", codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &echo.SayResponse{}
			err := c.Invoke(testCtx(t), echo.Echo_Say_FullMethodName, &echo.SayRequest{Text: "j"}, resp, dora.Codec(tt.codec))
			if status.Code(err) != tt.wantCode {
				t.Fatalf("err = %v, want %v", err, tt.wantCode)
			}
			if err == nil && resp.Text != "j" {
				t.Fatalf("resp = %v", resp)
			}
		})
	}
}

func TestDynamicMessages(t *testing.T) {
	ts := startServer(t, nil)
	c := newTestClient(t, ts.addr)
	reqDesc := (&echo.SayRequest{}).ProtoReflect().Descriptor()
	respDesc := (&echo.SayResponse{}).ProtoReflect().Descriptor()
	req := dynamicpb.NewMessage(reqDesc)
	req.Set(reqDesc.Fields().ByName("text"), protoreflectString("dyn"))
	resp := dynamicpb.NewMessage(respDesc)
	for _, cdc := range []string{"proto", "json"} {
		if err := c.Invoke(testCtx(t), echo.Echo_Say_FullMethodName, req, resp, dora.Codec(cdc)); err != nil {
			t.Fatal(err)
		}
		if got := resp.Get(respDesc.Fields().ByName("text")).String(); got != "dyn" {
			t.Fatalf("%s: text = %q", cdc, got)
		}
	}
}

func TestHandlerPanic(t *testing.T) {
	logs := &logBuf{}
	impl := &echoImpl{onSay: func(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
		if in.Text == "panic" {
			panic("handler exploded")
		}
		return &echo.SayResponse{Text: in.Text}, nil
	}}
	ts := startServer(t, impl, dora.WithLogger(slogTo(logs)))
	ec := echo.NewEchoClient(newTestClient(t, ts.addr))
	_, err := ec.Say(testCtx(t), &echo.SayRequest{Text: "panic"})
	if status.Code(err) != codes.Internal {
		t.Fatalf("err = %v, want Internal", err)
	}
	if l := logs.String(); !strings.Contains(l, "handler exploded") || !strings.Contains(l, "behaviour_test.go") {
		t.Fatalf("log lacks the panic or its stack:\n%s", l)
	}
	// The connection and the server live on.
	if resp, err := ec.Say(testCtx(t), &echo.SayRequest{Text: "after"}); err != nil || resp.Text != "after" {
		t.Fatalf("call after panic = %v, %v", resp, err)
	}
}

type authImpl struct {
	testpb.UnimplementedAuthServer
}

func (authImpl) Login(ctx context.Context, in *testpb.LoginRequest) (*testpb.LoginResponse, error) {
	switch {
	case in.Username == "":
		return nil, status.Error(codes.InvalidArgument, "username required")
	case in.Password != "secret":
		return nil, status.Error(codes.Unauthenticated, "wrong password")
	case in.Username == "ghost":
		return nil, status.Error(codes.NotFound, "no such user")
	}
	return &testpb.LoginResponse{Token: "tok-" + in.Username + "-" + metadata.ValueFromIncomingContext(ctx, "token"), UserId: 7}, nil
}

type otherImpl struct {
	testpb.UnimplementedOtherServer
}

func registerAll(s *dora.Server) {
	echo.RegisterEchoServer(s, &echoImpl{})
	testpb.RegisterAuthServer(s, authImpl{})
	testpb.RegisterOtherServer(s, otherImpl{})
}

func TestManyServices(t *testing.T) {
	ts := startServerOn(t, "127.0.0.1:0", registerAll)
	c := newTestClient(t, ts.addr)
	if _, err := echo.NewEchoClient(c).Say(testCtx(t), &echo.SayRequest{}); err != nil {
		t.Fatal(err)
	}
	resp, err := testpb.NewAuthClient(c).Login(testCtx(t), &testpb.LoginRequest{Username: "ann", Password: "secret"})
	if err != nil || resp.UserId != 7 {
		t.Fatalf("Login = %v, %v", resp, err)
	}
	if _, err := testpb.NewOtherClient(c).Say(testCtx(t), &testpb.Empty{}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("Other.Say err = %v, want Unimplemented (from UnimplementedOtherServer)", err)
	}
	// Bare names: unique ones resolve, ambiguous ones do not.
	if err := c.Invoke(testCtx(t), "Login", &testpb.LoginRequest{Username: "ann", Password: "secret"}, &testpb.LoginResponse{}); err != nil {
		t.Fatalf("bare Login: %v", err)
	}
	err = c.Invoke(testCtx(t), "Say", &echo.SayRequest{}, &echo.SayResponse{})
	if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "ambiguous") {
		t.Fatalf("bare Say: %v", err)
	}
	if n := len(ts.srv.Services()); n != 3 {
		t.Fatalf("Services() has %d entries", n)
	}
}

func TestRegisterMisuse(t *testing.T) {
	tests := []struct {
		name string
		do   func(s *dora.Server)
	}{
		{"wrong impl", func(s *dora.Server) { s.RegisterService(&echo.Echo_ServiceDesc, authImpl{}) }},
		{"twice", func(s *dora.Server) {
			echo.RegisterEchoServer(s, &echoImpl{})
			echo.RegisterEchoServer(s, &echoImpl{})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tt.do(dora.NewServer())
		})
	}
}

func TestConcurrentCalls(t *testing.T) {
	ts := startServer(t, nil)
	ec := echo.NewEchoClient(newTestClient(t, ts.addr))
	const goroutines, calls = 100, 20
	var wg sync.WaitGroup
	errc := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				text := fmt.Sprintf("%d-%d", g, i)
				resp, err := ec.Say(testCtx(t), &echo.SayRequest{Text: text})
				if err != nil || resp.Text != text {
					errc <- fmt.Errorf("call %s: %v, %v", text, resp, err)
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
}

func TestNoHeadOfLineBlocking(t *testing.T) {
	release := make(chan struct{})
	impl := &echoImpl{onSay: func(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
		if in.Text == "slow" {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return &echo.SayResponse{Text: in.Text}, nil
	}}
	ts := startServer(t, impl)
	ec := echo.NewEchoClient(newTestClient(t, ts.addr, dora.WithMaxConns(1)))
	slow := make(chan error, 1)
	go func() {
		_, err := ec.Say(testCtx(t), &echo.SayRequest{Text: "slow"})
		slow <- err
	}()
	for i := 0; i < 10; i++ {
		if _, err := ec.Say(testCtx(t), &echo.SayRequest{Text: "fast"}); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
}

func TestMessageSizeLimit(t *testing.T) {
	ts := startServer(t, nil, dora.MaxRecvMsgSize(32<<10))
	ec := echo.NewEchoClient(newTestClient(t, ts.addr))
	_, err := ec.Say(testCtx(t), &echo.SayRequest{Blob: make([]byte, 64<<10)})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("err = %v, want ResourceExhausted", err)
	}
	if _, err := ec.Say(testCtx(t), &echo.SayRequest{Blob: make([]byte, 16<<10)}); err != nil {
		t.Fatalf("small call after: %v", err)
	}
}

func TestConcurrentCallLimitOpensSessions(t *testing.T) {
	const inFlight = 3
	started := make(chan string, inFlight)
	release := make(chan struct{})
	impl := &echoImpl{onSay: func(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
		p, _ := dora.Peer(ctx)
		started <- p.String()
		<-release
		return &echo.SayResponse{}, nil
	}}
	ts := startServer(t, impl, dora.MaxConcurrentCalls(1))
	c := newTestClient(t, ts.addr, dora.WithMaxConns(inFlight))
	ec := echo.NewEchoClient(c)
	errc := make(chan error, inFlight+1)
	peers := map[string]bool{}
	for i := 0; i < inFlight; i++ {
		go func() {
			_, err := ec.Say(testCtx(t), &echo.SayRequest{})
			errc <- err
		}()
		peers[<-started] = true // one at a time: each must find a session with room
	}
	if len(peers) != inFlight {
		t.Fatalf("calls used %d sessions, want %d", len(peers), inFlight)
	}
	// Every session is full and the cap is reached: the next call fails at once.
	if _, err := ec.Say(testCtx(t), &echo.SayRequest{}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("over the cap: err = %v, want ResourceExhausted", err)
	}
	close(release)
	for i := 0; i < inFlight; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

type recordingStats struct {
	mu    sync.Mutex
	begin []dora.CallInfo
	end   []dora.CallStats
}

func (r *recordingStats) CallBegin(ctx context.Context, info *dora.CallInfo) context.Context {
	r.mu.Lock()
	r.begin = append(r.begin, *info)
	r.mu.Unlock()
	return ctx
}

func (r *recordingStats) CallEnd(ctx context.Context, s *dora.CallStats) {
	r.mu.Lock()
	r.end = append(r.end, *s)
	r.mu.Unlock()
}

func TestStatsHandler(t *testing.T) {
	srvStats, cliStats := &recordingStats{}, &recordingStats{}
	impl := &echoImpl{onSay: func(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
		if in.Text == "bad" {
			return nil, status.Error(codes.InvalidArgument, "bad")
		}
		return &echo.SayResponse{Text: in.Text}, nil
	}}
	ts := startServer(t, impl, dora.WithStats(srvStats))
	ec := echo.NewEchoClient(newTestClient(t, ts.addr, dora.WithStats(cliStats)))
	if _, err := ec.Say(testCtx(t), &echo.SayRequest{Text: "hello"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ec.Say(testCtx(t), &echo.SayRequest{Text: "bad"}); err == nil {
		t.Fatal("bad call succeeded")
	}
	ts.stop() // every server call has ended
	for _, tt := range []struct {
		name string
		r    *recordingStats
	}{{"server", srvStats}, {"client", cliStats}} {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.mu.Lock()
			defer tt.r.mu.Unlock()
			if len(tt.r.begin) != 2 || len(tt.r.end) != 2 {
				t.Fatalf("begin %d end %d, want 2 each", len(tt.r.begin), len(tt.r.end))
			}
			ok, bad := tt.r.end[0], tt.r.end[1]
			if ok.Code != codes.OK { // the server may end call 1 after call 2 started
				ok, bad = bad, ok
			}
			if ok.FullMethod != echo.Echo_Say_FullMethodName || ok.Code != codes.OK || bad.Code != codes.InvalidArgument {
				t.Fatalf("end stats = %+v / %+v", ok, bad)
			}
			if ok.BytesIn <= 0 || ok.BytesOut <= 0 || ok.MsgsIn != 1 || ok.MsgsOut != 1 || ok.Duration <= 0 {
				t.Fatalf("counters = %+v", ok)
			}
			if ok.Client != (tt.name == "client") || ok.RemoteAddr == nil {
				t.Fatalf("info = %+v", *ok.CallInfo)
			}
		})
	}
}

func TestRawCodecMessageTypes(t *testing.T) {
	// The raw codec with proto-generated handlers: the server decodes raw bytes as proto
	// fails cleanly, since the handler's request is a proto message.
	ts := startServer(t, nil)
	c := newTestClient(t, ts.addr)
	payload, _ := proto.Marshal(&echo.SayRequest{Text: "raw"})
	var out []byte
	err := c.Invoke(testCtx(t), echo.Echo_Say_FullMethodName, payload, &out, dora.Codec("raw"))
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("err = %v, want InvalidArgument", err)
	}
}

func TestStatsHandlerStreams(t *testing.T) {
	srvStats, cliStats := &recordingStats{}, &recordingStats{}
	ts := startServer(t, nil, dora.WithStats(srvStats))
	ec := echo.NewEchoClient(newTestClient(t, ts.addr, dora.WithStats(cliStats)))
	st, err := ec.Count(testCtx(t), &echo.CountRequest{From: 1, To: 3})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := st.Recv(); err != nil {
			break
		}
	}
	ts.stop()
	for _, tt := range []struct {
		name            string
		r               *recordingStats
		wantIn, wantOut int
	}{
		{"server", srvStats, 2, 4}, // OPEN + request in; 3 messages + trailer out
		{"client", cliStats, 4, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.mu.Lock()
			defer tt.r.mu.Unlock()
			if len(tt.r.end) != 1 {
				t.Fatalf("%d ends, want 1", len(tt.r.end))
			}
			s := tt.r.end[0]
			if s.Code != codes.OK || !s.ServerStream || s.ClientStream || s.MsgsIn != tt.wantIn || s.MsgsOut != tt.wantOut {
				t.Fatalf("stats = %+v (info %+v)", s, *s.CallInfo)
			}
		})
	}
}

func TestHandlerContextCause(t *testing.T) {
	cause := make(chan error, 1)
	impl := &echoImpl{onSay: func(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
		child, cancel := context.WithCancel(ctx) // derived without a goroutine (AfterFunc)
		defer cancel()
		if in.Text == "wait" {
			<-child.Done()
			cause <- context.Cause(ctx)
			return nil, ctx.Err()
		}
		return &echo.SayResponse{}, nil
	}}
	ts := startServer(t, impl)
	ec := echo.NewEchoClient(newTestClient(t, ts.addr))
	ctx, cancel := context.WithTimeout(testCtx(t), 100*time.Millisecond)
	defer cancel()
	if _, err := ec.Say(ctx, &echo.SayRequest{Text: "wait"}); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("err = %v", err)
	}
	err := <-cause
	var se *nap.StreamError
	if !errors.As(err, &se) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cause = %v, want the nap reset or the deadline", err)
	}
}

func TestDefaultCallOptions(t *testing.T) {
	var seen []string
	var mu sync.Mutex
	impl := &echoImpl{onSay: func(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		dl, _ := ctx.Deadline()
		mu.Lock()
		seen = append(seen, md.Get("x-default")+"/"+fmt.Sprint(!dl.IsZero()))
		mu.Unlock()
		return &echo.SayResponse{Text: in.Text}, nil
	}}
	ts := startServer(t, impl)
	c := newTestClient(t, ts.addr, dora.WithDefaultCallOptions(dora.Codec("json"),
		dora.WithMetadata(metadata.Pairs("x-default", "d")), dora.Timeout(time.Minute)))
	ec := echo.NewEchoClient(c)
	if _, err := ec.Say(context.Background(), &echo.SayRequest{Text: "1"}); err != nil {
		t.Fatal(err)
	}
	// A call's own option wins over the default.
	if _, err := ec.Say(context.Background(), &echo.SayRequest{Text: "2"}, dora.WithMetadata(metadata.Pairs("x-default", "own"))); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(seen, ",") != "d/true,own/true" {
		t.Fatalf("seen %v", seen)
	}
}

// mdStats adds outgoing metadata in a client's CallBegin and records the incoming metadata a
// server's CallBegin sees, as a tracer propagating its context does.
type mdStats struct {
	mu      sync.Mutex
	seen    []string
	unknown []bool
}

func (m *mdStats) CallBegin(ctx context.Context, info *dora.CallInfo) context.Context {
	if info.Client {
		return metadata.AppendToOutgoingContext(ctx, "trace-id", "t-1")
	}
	m.mu.Lock()
	m.seen = append(m.seen, metadata.ValueFromIncomingContext(ctx, "trace-id"))
	m.unknown = append(m.unknown, info.Unknown)
	m.mu.Unlock()
	return ctx
}

func (*mdStats) CallEnd(context.Context, *dora.CallStats) {}

func TestStatsHandlerMetadata(t *testing.T) {
	st := &mdStats{}
	ts := startServer(t, nil, dora.WithStats(st))
	c := newTestClient(t, ts.addr, dora.WithStats(st))
	if _, err := echo.NewEchoClient(c).Say(testCtx(t), &echo.SayRequest{Text: "x"}); err != nil {
		t.Fatal(err)
	}
	var out echo.SayResponse
	if err := c.Invoke(testCtx(t), "/no.Such/Method", &echo.SayRequest{}, &out); status.Code(err) != codes.Unimplemented {
		t.Fatalf("unknown method: err = %v, want Unimplemented", err)
	}
	ts.stop()
	st.mu.Lock()
	defer st.mu.Unlock()
	if !slices.Equal(st.seen, []string{"t-1", "t-1"}) || !slices.Equal(st.unknown, []bool{false, true}) {
		t.Fatalf("server CallBegin saw metadata %q, unknown %v; want t-1 twice, [false true]", st.seen, st.unknown)
	}
}
