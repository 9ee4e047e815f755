//go:build !rpcbench_node || rpcbench_grpc

package rpc

import (
	"context"
	"fmt"
	"io"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/seed857a6cbd/pocket/benchmarks/internal/echopb"
)

// grpcFramework is grpc-go with its defaults: one ClientConn (one HTTP/2 connection)
// shared by every caller, plaintext.
type grpcFramework struct{}

func init() { Register(grpcFramework{}) }

func (grpcFramework) Name() string { return "grpc" }

type grpcEcho struct {
	echopb.UnimplementedEchoServer
}

func (grpcEcho) Echo(_ context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
	if err := checkPayload(len(req.GetPayload())); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &echopb.EchoResponse{Payload: req.GetPayload()}, nil
}

type grpcServer struct{ s *grpc.Server }

func (g grpcServer) Close() error {
	g.s.Stop()
	return nil
}

func (grpcFramework) Serve(ln net.Listener) (io.Closer, error) {
	s := grpc.NewServer(grpc.MaxRecvMsgSize(MaxPayload + 64))
	echopb.RegisterEchoServer(s, grpcEcho{})
	go func() {
		// Serve returns when Stop closes the listener.
		_ = s.Serve(ln)
	}()
	return grpcServer{s}, nil
}

type grpcClient struct {
	conn *grpc.ClientConn
	c    echopb.EchoClient
}

func (grpcFramework) Dial(addr string, _ DialOptions) (Client, error) {
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxPayload+64)))
	if err != nil {
		return nil, fmt.Errorf("rpc: grpc: %w", err)
	}
	return &grpcClient{conn: conn, c: echopb.NewEchoClient(conn)}, nil
}

func (g *grpcClient) Echo(ctx context.Context, payload []byte) ([]byte, error) {
	resp, err := g.c.Echo(ctx, &echopb.EchoRequest{Payload: payload})
	if err != nil {
		return nil, err
	}
	return resp.GetPayload(), nil
}

func (g *grpcClient) Close() error { return g.conn.Close() }
