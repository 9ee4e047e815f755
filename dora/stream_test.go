package dora_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"
)

func TestServerStreaming(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			ts := startServer(t, nil, tr.server(t)...)
			ec := echo.NewEchoClient(newTestClient(t, ts.addr, tr.client(t)...))
			ctx := metadata.AppendToOutgoingContext(testCtx(t), "x-header", "hi")
			var trailer metadata.MD
			stream, err := ec.Count(ctx, &echo.CountRequest{From: 1, To: 5}, dora.Trailer(&trailer))
			if err != nil {
				t.Fatal(err)
			}
			hdr, err := stream.Header()
			if err != nil || hdr.Get("x-header") != "hi" {
				t.Fatalf("Header = %v, %v", hdr, err)
			}
			var got []int32
			for {
				m, err := stream.Recv()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, m.N)
			}
			if len(got) != 5 || got[0] != 1 || got[4] != 5 {
				t.Fatalf("got %v", got)
			}
			if stream.Trailer().Get("x-count") != "5" || trailer.Get("x-count") != "5" {
				t.Fatalf("trailer = %v / %v", stream.Trailer(), trailer)
			}
		})
	}
}

func TestServerStreamingError(t *testing.T) {
	ts := startServer(t, nil)
	ec := echo.NewEchoClient(newTestClient(t, ts.addr))
	stream, err := ec.Count(testCtx(t), &echo.CountRequest{From: 5, To: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Recv err = %v, want InvalidArgument", err)
	}
	if _, err2 := stream.Recv(); status.Code(err2) != codes.InvalidArgument {
		t.Fatalf("second Recv err = %v", err2)
	}
}

func TestClientStreaming(t *testing.T) {
	ts := startServer(t, nil)
	ec := echo.NewEchoClient(newTestClient(t, ts.addr))
	tests := []struct {
		name     string
		texts    []string
		want     string
		wantCode codes.Code
	}{
		{"joins", []string{"a", "b", "c"}, "a,b,c", codes.OK},
		{"empty", nil, "", codes.OK},
		{"handler error", []string{"a", "fail"}, "", codes.FailedPrecondition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream, err := ec.Collect(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.texts {
				if err := stream.Send(&echo.SayRequest{Text: s}); err != nil && err != io.EOF {
					t.Fatal(err)
				}
			}
			resp, err := stream.CloseAndRecv()
			if status.Code(err) != tt.wantCode {
				t.Fatalf("CloseAndRecv err = %v, want %v", err, tt.wantCode)
			}
			if err == nil && resp.Text != tt.want {
				t.Fatalf("resp = %q, want %q", resp.Text, tt.want)
			}
		})
	}
}

func TestBidiStreaming(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			ts := startServer(t, nil, tr.server(t)...)
			ec := echo.NewEchoClient(newTestClient(t, ts.addr, tr.client(t)...))
			stream, err := ec.Chat(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			// Ping-pong: each answer arrives before the next request is sent.
			for _, s := range []string{"one", "two", "three"} {
				if err := stream.Send(&echo.SayRequest{Text: s}); err != nil {
					t.Fatal(err)
				}
				m, err := stream.Recv()
				if err != nil || m.Text != "re:"+s {
					t.Fatalf("Recv = %v, %v", m, err)
				}
			}
			if err := stream.CloseSend(); err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); err != io.EOF {
				t.Fatalf("final Recv = %v, want io.EOF", err)
			}
		})
	}
}

func TestStreamCancel(t *testing.T) {
	ts := startServer(t, nil)
	ec := echo.NewEchoClient(newTestClient(t, ts.addr))
	ctx, cancel := contextWithCancel(t)
	stream, err := ec.Chat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&echo.SayRequest{Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("Recv after cancel = %v, want Canceled", err)
	}
}

func TestStreamHandlerPanic(t *testing.T) {
	boom := func(srv any, ss dora.ServerStream, info *dora.StreamServerInfo, h dora.StreamHandler) error {
		panic("stream handler exploded")
	}
	ts := startServer(t, nil, dora.ChainStreamInterceptor(boom))
	ec := echo.NewEchoClient(newTestClient(t, ts.addr))
	stream, err := ec.Count(testCtx(t), &echo.CountRequest{From: 1, To: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Internal {
		t.Fatalf("Recv = %v, want Internal", err)
	}
	if _, err := ec.Say(testCtx(t), &echo.SayRequest{Text: "alive"}); err != nil {
		t.Fatalf("server after panic: %v", err)
	}
}

func TestStreamDeadline(t *testing.T) {
	ts := startServer(t, nil)
	ec := echo.NewEchoClient(newTestClient(t, ts.addr))
	stream, err := ec.Chat(testCtx(t), dora.Timeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	// The server waits for a request that never comes: the deadline ends the call.
	if _, err := stream.Recv(); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("Recv = %v, want DeadlineExceeded", err)
	}
}

func TestStreamDeadlineReachesHandler(t *testing.T) {
	got := make(chan error, 1)
	blocked := func(srv any, ss dora.ServerStream, info *dora.StreamServerInfo, h dora.StreamHandler) error {
		var m echo.SayRequest
		err := ss.RecvMsg(&m) // the client sends nothing and keeps its stream open
		got <- err
		return err
	}
	ts := startServer(t, nil, dora.ChainStreamInterceptor(blocked))
	c := newTestClient(t, ts.addr)
	// The client's own timer would also reset the stream; a long client-side context with a
	// short server deadline shows the server enforces the deadline it received.
	ctx, cancel := context.WithTimeout(testCtx(t), 150*time.Millisecond)
	defer cancel()
	stream, err := c.NewStream(ctx, &echo.Echo_ServiceDesc.Streams[2], echo.Echo_Chat_FullMethodName)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-got; status.Code(err) != codes.DeadlineExceeded && status.Code(err) != codes.Canceled {
		t.Fatalf("handler RecvMsg = %v, want DeadlineExceeded (or Canceled if the client's reset won)", err)
	}
	var m echo.SayResponse
	if err := stream.RecvMsg(&m); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("client RecvMsg = %v", err)
	}
}
