package kvclient_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/testkit"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
	"github.com/seed857a6cbd/pocket/lbclient"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

// scripted is a kv.Store server whose answers the test chooses; it records the metadata of
// the last read and write. The end-to-end tests (internal/e2e) run the real etserver; this
// one pins down the mapping of every answer onto kvclient's errors.
type scripted struct {
	kvpb.UnimplementedStoreServer
	mu     sync.Mutex
	lastMD metadata.MD
	err    error        // returned by every call when set
	status *kvpb.Status // answered by Login and Read when set
	block  chan struct{}
	// arrived, when set, gets a value (without blocking) as each call reaches the server.
	arrived chan struct{}
	calls   atomic.Int64 // calls answered
}

func (s *scripted) answer(ctx context.Context) (*kvpb.Status, error) {
	s.calls.Add(1)
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	s.lastMD = md.Copy()
	err, st, block, arrived := s.err, s.status, s.block, s.arrived
	s.mu.Unlock()
	if arrived != nil {
		select {
		case arrived <- struct{}{}:
		default:
		}
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	return st, err
}

func (s *scripted) Login(ctx context.Context, in *kvpb.LoginReq) (*kvpb.LoginRsp, error) {
	st, err := s.answer(ctx)
	if err != nil {
		return nil, err
	}
	return &kvpb.LoginRsp{Status: st, Token: "tok-" + in.Username}, nil
}

func (s *scripted) ReadSecureMessage(ctx context.Context, in *kvpb.ReadSecureMessageReq) (*kvpb.ReadSecureMessageRsp, error) {
	st, err := s.answer(ctx)
	if err != nil {
		return nil, err
	}
	return &kvpb.ReadSecureMessageRsp{Status: st, Value: append([]byte("v-"), in.Key...)}, nil
}

func (s *scripted) WriteSecureMessage(ctx context.Context, in *kvpb.WriteSecureMessageReq) (*kvpb.WriteSecureMessageRsp, error) {
	if _, err := s.answer(ctx); err != nil {
		return nil, err
	}
	return &kvpb.WriteSecureMessageRsp{Key: in.Key, Value: in.Value}, nil
}

func (s *scripted) set(st *kvpb.Status, err error) {
	s.mu.Lock()
	s.status, s.err = st, err
	s.mu.Unlock()
}

func (s *scripted) md() metadata.MD {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastMD
}

// startScripted serves a scripted kv.Store on 127.0.0.1 until the test ends.
func startScripted(t *testing.T) (*scripted, string) {
	t.Helper()
	return startScriptedAt(t, "127.0.0.1:0")
}

// startScriptedAt serves a scripted kv.Store on addr until the test ends.
func startScriptedAt(t *testing.T, addr string) (*scripted, string) {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	impl := &scripted{}
	srv := dora.NewServer()
	kvpb.RegisterStoreServer(srv, impl)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return impl, lis.Addr().String()
}

func dialT(t *testing.T, addrs ...string) kvclient.Client {
	t.Helper()
	eps := make([]lbclient.Endpoint, len(addrs))
	for i, a := range addrs {
		eps[i] = lbclient.Endpoint{Addr: a, Weight: 1}
	}
	c, err := kvclient.Dial(context.Background(), kvclient.Options{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestDoraSessionMetadata(t *testing.T) {
	srv, addr := startScripted(t)
	c := dialT(t, addr)
	tests := []struct {
		name, token, user string
		want              string
	}{
		{"token and user", "t1", "ann", "token=t1 username=ann"},
		{"token only", "t1", "", "token=t1"},
		{"user only", "", "ann", "username=ann"},
		{"neither", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Twice each: every call sends the session metadata.
			for _, op := range []string{"read", "write", "read", "write"} {
				var err error
				switch op {
				case "read":
					var v string
					v, err = c.Read(ctxT(t), tt.token, tt.user, "k")
					if err == nil && v != "v-k" {
						t.Fatalf("Read = %q", v)
					}
				default:
					err = c.Write(ctxT(t), tt.token, tt.user, "k", "v")
				}
				if err != nil {
					t.Fatalf("%s: %v", op, err)
				}
				var got []string
				for _, k := range []string{"token", "username"} {
					if v, ok := srv.md().Lookup(k); ok {
						got = append(got, k+"="+v)
					}
				}
				if strings.Join(got, " ") != tt.want {
					t.Fatalf("%s sent metadata %v, want %q", op, srv.md(), tt.want)
				}
			}
		})
	}
}

func TestDoraErrorMapping(t *testing.T) {
	srv, addr := startScripted(t)
	c := dialT(t, addr)
	tests := []struct {
		name     string
		status   *kvpb.Status
		err      error
		wantCode kvclient.Code
		wantMsg  string
	}{
		{"login refused", &kvpb.Status{Code: kvpb.CODE_INCORRECT_USERNAME_OR_PASSWORD, Message: "no such luck"}, nil, kvclient.CodeIncorrectUsernameOrPassword, "no such luck"},
		{"login refused without message", &kvpb.Status{Code: kvpb.CODE_INCORRECT_USERNAME_OR_PASSWORD}, nil, kvclient.CodeIncorrectUsernameOrPassword, "incorrect username or password"},
		{"key not exist", &kvpb.Status{Code: kvpb.CODE_KEY_NOT_EXIST, Message: "key does not exist"}, nil, kvclient.CodeKeyNotExist, "key does not exist"},
		{"unknown application code", &kvpb.Status{Code: 1234, Message: "new"}, nil, kvclient.Code(1234), "new"},
		{"unauthenticated", nil, status.Error(codes.Unauthenticated, "missing session token"), kvclient.Code(codes.Unauthenticated), "missing session token"},
		{"over quota", nil, status.Error(codes.ResourceExhausted, "read quota exceeded"), kvclient.Code(codes.ResourceExhausted), "read quota exceeded"},
		{"invalid argument", nil, status.Error(codes.InvalidArgument, "key is 4097 bytes, limit 4096"), kvclient.Code(codes.InvalidArgument), "key is 4097 bytes, limit 4096"},
		{"plain handler error", nil, errors.New("boom"), kvclient.Code(codes.Unknown), "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.set(tt.status, tt.err)
			calls := map[string]error{}
			_, calls["login"] = c.Login(ctxT(t), "ann", "pw")
			_, calls["read"] = c.Read(ctxT(t), "t", "ann", "k")
			if tt.err != nil {
				calls["write"] = c.Write(ctxT(t), "t", "ann", "k", "v")
			}
			for op, err := range calls {
				var e *kvclient.Error
				if !errors.As(err, &e) || e.Code != tt.wantCode || e.Message != tt.wantMsg {
					t.Fatalf("%s: %#v, want code %v message %q", op, err, tt.wantCode, tt.wantMsg)
				}
			}
		})
	}
	srv.set(nil, nil)
	if tok, err := c.Login(ctxT(t), "ann", "pw"); err != nil || tok != "tok-ann" {
		t.Fatalf("Login = %q, %v", tok, err)
	}
}

func TestDoraContextEnds(t *testing.T) {
	srv, addr := startScripted(t)
	c := dialT(t, addr)
	srv.mu.Lock()
	srv.block = make(chan struct{})
	srv.mu.Unlock()
	t.Cleanup(func() { close(srv.block) })

	dctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Read(dctx, "t", "ann", "k")
	if code := kvclient.CodeOf(err); code != kvclient.Code(codes.DeadlineExceeded) {
		t.Fatalf("read past its deadline: %v (code %v)", err, code)
	}

	cctx, cancel2 := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Login(cctx, "ann", "pw")
		errc <- err
	}()
	cancel2()
	if code := kvclient.CodeOf(<-errc); code != kvclient.Code(codes.Canceled) {
		t.Fatalf("canceled login: code %v", code)
	}
}

func TestDoraClose(t *testing.T) {
	_, addr := startScripted(t)
	c := dialT(t, addr)
	if _, err := c.Login(ctxT(t), "ann", "pw"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := c.Read(context.Background(), "t", "ann", "k"); err != nil {
					if code := kvclient.CodeOf(err); code != kvclient.Code(codes.Unavailable) {
						t.Errorf("read racing Close: %v (code %v), want UNAVAILABLE", err, code)
					}
					return
				}
			}
		}()
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for name, err := range map[string]error{
		"login": func() error { _, err := c.Login(ctxT(t), "ann", "pw"); return err }(),
		"read":  func() error { _, err := c.Read(ctxT(t), "t", "ann", "k"); return err }(),
		"write": c.Write(ctxT(t), "t", "ann", "k", "v"),
	} {
		if !errors.Is(err, kvclient.ErrUnavailable) {
			t.Fatalf("%s after Close: %v, want UNAVAILABLE", name, err)
		}
	}
}

func TestDoraServerDown(t *testing.T) {
	c := dialT(t, testkit.ClosedAddr(t))
	_, err := c.Login(ctxT(t), "ann", "pw")
	if code := kvclient.CodeOf(err); code != kvclient.Code(codes.Unavailable) {
		t.Fatalf("login to a closed port: %v (code %v), want UNAVAILABLE", err, code)
	}
}

// TestDoraBalancedSkipsDownServer: a fresh balanced client's first call must reach the
// instance that is up even when the picker favours the ones that are down (etclient is a new
// process, hence a fresh client, on every run).
func TestDoraBalancedSkipsDownServer(t *testing.T) {
	_, up := startScripted(t)
	for i := range 40 {
		c, err := kvclient.Dial(context.Background(), kvclient.Options{Endpoints: []lbclient.Endpoint{
			{Addr: testkit.ClosedAddr(t), Weight: 50}, {Addr: testkit.ClosedAddr(t), Weight: 50}, {Addr: up, Weight: 1},
		}})
		if err != nil {
			t.Fatal(err)
		}
		for j := range 3 {
			if tok, err := c.Login(ctxT(t), "ann", "pw"); err != nil || tok != "tok-ann" {
				t.Fatalf("client %d call %d: %q, %v", i, j, tok, err)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDoraBalancedRejoinsRestarted: an instance that was down when the client started gets
// calls again within EjectionMax (+ one call) of listening, and no call fails meanwhile.
func TestDoraBalancedRejoinsRestarted(t *testing.T) {
	_, up := startScripted(t)
	later := testkit.ClosedAddr(t)
	c, err := kvclient.Dial(context.Background(), kvclient.Options{Endpoints: []lbclient.Endpoint{
		{Addr: up, Weight: 1}, {Addr: later, Weight: 50},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Calls for 3.2 s find "later" refusing, eject it and fail its trial calls, so its
	// ejection grows (lbclient's default reaches 4 s); every call succeeds.
	down := time.Now()
	for i := 0; time.Since(down) < 3200*time.Millisecond; i++ {
		if tok, err := c.Login(ctxT(t), "ann", "pw"); err != nil || tok != "tok-ann" {
			t.Fatalf("call %d with one instance down: %q, %v", i, tok, err)
		}
	}
	restarted, _ := startScriptedAt(t, later)
	started := time.Now()
	bound := kvclient.EjectionMax + 500*time.Millisecond // the longest ejection, then one call
	for i := 0; restarted.calls.Load() == 0; i++ {
		if time.Since(started) > bound || i > 100000 {
			t.Fatalf("restarted instance got no call in %s (%d calls)", time.Since(started), i)
		}
		if tok, err := c.Login(ctxT(t), "ann", "pw"); err != nil || tok != "tok-ann" {
			t.Fatalf("call %d after the restart: %q, %v", i, tok, err)
		}
	}
	t.Logf("restarted instance got a call %s after listening", time.Since(started))
}

func TestDialRefuses(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		eps  []lbclient.Endpoint
		want error
	}{
		{"ended context", canceled, nil, context.Canceled},
		{"empty address", context.Background(), []lbclient.Endpoint{{Addr: "", Weight: 1}}, kvclient.ErrBadEndpoint},
		{"negative weight", context.Background(), []lbclient.Endpoint{{Addr: "127.0.0.1:1", Weight: -1}}, kvclient.ErrBadEndpoint},
		{"weight over limit", context.Background(), []lbclient.Endpoint{{Addr: "127.0.0.1:1", Weight: 101}}, kvclient.ErrBadEndpoint},
		{"not host:port", context.Background(), []lbclient.Endpoint{{Addr: "nohost", Weight: 1}}, kvclient.ErrBadEndpoint},
		{"list separator in address", context.Background(), []lbclient.Endpoint{{Addr: "127.0.0.1:1,127.0.0.1:2", Weight: 1}}, kvclient.ErrBadEndpoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := kvclient.Dial(tt.ctx, kvclient.Options{Endpoints: tt.eps})
			if c != nil || !errors.Is(err, tt.want) || !strings.HasPrefix(err.Error(), "kvclient: ") {
				t.Fatalf("Dial = %v, %v; want an error wrapping %v", c, err, tt.want)
			}
		})
	}
}

// BenchmarkDoraRead measures a Read through the dora client against the scripted server on
// loopback: the client's cost (request, metadata, status mapping) plus a loopback round trip
// and a trivial handler.
func BenchmarkDoraRead(b *testing.B) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := dora.NewServer()
	kvpb.RegisterStoreServer(srv, &scripted{})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	defer func() { srv.Stop(); <-done }()
	c, err := kvclient.Dial(context.Background(), kvclient.Options{Endpoints: []lbclient.Endpoint{{Addr: lis.Addr().String(), Weight: 1}}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.Read(ctx, "tok", "ann", "k"); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Read(ctx, "tok", "ann", "k"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Read(ctx, "tok", "ann", "k"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
