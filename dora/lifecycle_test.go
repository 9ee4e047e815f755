package dora_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/dora/wirepb"
	"github.com/seed857a6cbd/pocket/nap"
)

// blockingImpl blocks "block" calls until release is closed (or their context ends).
func blockingImpl(started chan<- struct{}, release <-chan struct{}) *echoImpl {
	return &echoImpl{onSay: func(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
		if in.Text == "block" {
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return &echo.SayResponse{Text: in.Text}, nil
	}}
}

func TestGracefulStop(t *testing.T) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	ts := startServer(t, blockingImpl(started, release))
	ec := echo.NewEchoClient(newTestClient(t, ts.addr))
	inflight := make(chan error, 1)
	go func() {
		_, err := ec.Say(testCtx(t), &echo.SayRequest{Text: "block"})
		inflight <- err
	}()
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- ts.srv.GracefulStop(testCtx(t)) }()

	// A call racing with the stop is either served or refused; never hung or reset.
	if _, err := ec.Say(testCtx(t), &echo.SayRequest{Text: "x"}); err != nil && status.Code(err) != codes.Unavailable {
		t.Fatalf("call during drain: %v", err)
	}
	select {
	case err := <-stopped:
		t.Fatalf("GracefulStop returned (%v) with a call in flight", err)
	default:
	}
	close(release)
	if err := <-inflight; err != nil {
		t.Fatalf("in-flight call: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("GracefulStop: %v", err)
	}
	if _, err := ec.Say(testCtx(t), &echo.SayRequest{Text: "late"}); status.Code(err) != codes.Unavailable {
		t.Fatalf("call after stop: %v, want Unavailable", err)
	}
}

func TestGracefulStopTimeout(t *testing.T) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	defer close(release)
	ts := startServer(t, blockingImpl(started, release))
	ec := echo.NewEchoClient(newTestClient(t, ts.addr))
	inflight := make(chan error, 1)
	go func() {
		_, err := ec.Say(testCtx(t), &echo.SayRequest{Text: "block"})
		inflight <- err
	}()
	<-started
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel() // no time to drain: falls back to Stop
	if err := ts.srv.GracefulStop(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("GracefulStop = %v, want context.Canceled", err)
	}
	if err := <-inflight; status.Code(err) != codes.Unavailable {
		t.Fatalf("in-flight call: %v, want Unavailable", err)
	}
}

func TestServerKilledMidCall(t *testing.T) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	defer close(release)
	ts := startServer(t, blockingImpl(started, release))
	ec := echo.NewEchoClient(newTestClient(t, ts.addr))
	errc := make(chan error, 1)
	go func() {
		// The call's own deadline is far away: only the dead connection can end it.
		_, err := ec.Say(testCtx(t), &echo.SayRequest{Text: "block"})
		errc <- err
	}()
	<-started
	ts.srv.Stop()
	if err := <-errc; status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v, want Unavailable", err)
	}
}

func TestReconnectAfterRestart(t *testing.T) {
	ts := startServer(t, nil)
	c := newTestClient(t, ts.addr, dora.WithBackoff(10*time.Millisecond, 50*time.Millisecond))
	ec := echo.NewEchoClient(c)
	if _, err := ec.Say(testCtx(t), &echo.SayRequest{Text: "1"}); err != nil {
		t.Fatal(err)
	}
	ts.stop()
	if _, err := ec.Say(testCtx(t), &echo.SayRequest{Text: "2"}); status.Code(err) != codes.Unavailable {
		t.Fatalf("server down: err = %v, want Unavailable", err)
	}
	startServerOn(t, ts.addr, func(s *dora.Server) { echo.RegisterEchoServer(s, &echoImpl{}) })
	resp, err := ec.Say(testCtx(t), &echo.SayRequest{Text: "3"}, dora.WaitForReady(true))
	if err != nil || resp.Text != "3" {
		t.Fatalf("after restart: %v, %v", resp, err)
	}
}

func TestClientClose(t *testing.T) {
	ts := startServer(t, nil)
	c := newTestClient(t, ts.addr)
	ec := echo.NewEchoClient(c)
	if _, err := ec.Say(testCtx(t), &echo.SayRequest{}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	_, err := ec.Say(testCtx(t), &echo.SayRequest{})
	if status.Code(err) != codes.Canceled || !errors.Is(err, dora.ErrClientClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// rawCall sends pkg bytes on a new stream of a nap session and decodes the answer.
func rawCall(t *testing.T, sess *nap.Session, pkg []byte) *wirepb.Pkg {
	t.Helper()
	st, err := sess.OpenStream(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.SendAndClose(pkg); err != nil {
		t.Fatal(err)
	}
	msg, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	p := new(wirepb.Pkg)
	if err := proto.Unmarshal(msg, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMalformedAndUnknownCodecOnTheWire(t *testing.T) {
	ts := startServer(t, nil)
	sess, err := nap.Dial(testCtx(t), "tcp", ts.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	req, _ := proto.Marshal(&echo.SayRequest{Text: "hi"})
	good, _ := proto.Marshal(&wirepb.Pkg{Head: &wirepb.Head{Version: 1, Method: echo.Echo_Say_FullMethodName}, Payload: req})
	xml, _ := proto.Marshal(&wirepb.Pkg{Head: &wirepb.Head{Version: 1, SerializeType: "xml", Method: echo.Echo_Say_FullMethodName}, Payload: req})
	badPayload, _ := proto.Marshal(&wirepb.Pkg{Head: &wirepb.Head{Version: 1, Method: echo.Echo_Say_FullMethodName}, Payload: []byte{0xff}})
	tests := []struct {
		name       string
		pkg        []byte
		wantStatus string
	}{
		{"truncated Pkg", []byte{0x0a, 0x10, 0x08}, "3"},
		{"random bytes", []byte("\xde\xad\xbe\xef"), "3"},
		{"unknown codec", xml, "12"},
		{"undecodable payload", badPayload, "3"},
		{"Pkg without head: no method", []byte{0x18, 0x00}, "12"}, // only an unknown field
		{"good", good, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := rawCall(t, sess, tt.pkg)
			if got := p.GetHead().GetMeta()["dora-status"]; got != tt.wantStatus {
				t.Fatalf("dora-status = %q, want %q (%v)", got, tt.wantStatus, p.GetHead().GetMeta()["dora-message"])
			}
		})
	}
}

func TestServeAfterStop(t *testing.T) {
	s := dora.NewServer()
	s.Stop()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(lis); !errors.Is(err, dora.ErrServerStopped) {
		t.Fatalf("Serve after Stop = %v", err)
	}
}
