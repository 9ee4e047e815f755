package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/lesismal/arpc"
	arpclog "github.com/lesismal/arpc/log"
	"google.golang.org/protobuf/proto"

	"github.com/seed857a6cbd/pocket/benchmarks/internal/echopb"
)

// arpcFramework is lesismal/arpc with a protobuf codec (its default is JSON), one
// connection shared by every caller.
type arpcFramework struct{}

const arpcMethod = "/echo"

func init() {
	arpclog.SetLevel(arpclog.LevelNone)
	Register(arpcFramework{})
}

func (arpcFramework) Name() string { return "arpc" }

// arpcProtoCodec is an arpc codec.Codec that encodes protobuf messages.
type arpcProtoCodec struct{}

func (arpcProtoCodec) Marshal(v interface{}) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("rpc: arpc codec: %T is not a protobuf message", v)
	}
	return proto.Marshal(m)
}

func (arpcProtoCodec) Unmarshal(data []byte, v interface{}) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("rpc: arpc codec: %T is not a protobuf message", v)
	}
	return proto.Unmarshal(data, m)
}

type arpcServer struct {
	ln   net.Listener
	done chan struct{}
}

func (arpcFramework) Serve(ln net.Listener) (io.Closer, error) {
	s := arpc.NewServer()
	s.Codec = arpcProtoCodec{}
	s.Handler.Handle(arpcMethod, func(ctx *arpc.Context) {
		req := &echopb.EchoRequest{}
		if err := ctx.Bind(req); err != nil {
			_ = ctx.Error(err)
			return
		}
		if err := checkPayload(len(req.GetPayload())); err != nil {
			_ = ctx.Error(err)
			return
		}
		// A failed write means the client went away; arpc closes the connection.
		_ = ctx.Write(&echopb.EchoResponse{Payload: req.GetPayload()})
	})
	a := &arpcServer{ln: ln, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		// Serve returns once the listener is closed.
		_ = s.Serve(ln)
	}()
	return a, nil
}

// Close closes the listener; arpc's accept loop then stops every accepted connection.
// arpc's own Server.Stop is not used: it writes a field its accept loop reads without
// synchronization (a data race under -race).
func (a *arpcServer) Close() error {
	err := a.ln.Close()
	<-a.done
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

type arpcClient struct{ c *arpc.Client }

func (arpcFramework) Dial(addr string, _ DialOptions) (Client, error) {
	c, err := arpc.NewClient(func() (net.Conn, error) { return net.Dial("tcp", addr) })
	if err != nil {
		return nil, fmt.Errorf("rpc: arpc: %w", err)
	}
	c.Codec = arpcProtoCodec{}
	return arpcClient{c}, nil
}

func (a arpcClient) Echo(ctx context.Context, payload []byte) ([]byte, error) {
	resp := &echopb.EchoResponse{}
	if err := a.c.CallWith(ctx, arpcMethod, &echopb.EchoRequest{Payload: payload}, resp); err != nil {
		return nil, err
	}
	return resp.GetPayload(), nil
}

func (a arpcClient) Close() error {
	a.c.Stop()
	return nil
}
