//go:build !rpcbench_node || rpcbench_arpc

package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

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

// arpcDrainTimeout bounds how long Close waits for clients to hang up (5 s).
const arpcDrainTimeout = 5 * time.Second

type arpcServer struct {
	ln   net.Listener
	done chan struct{}

	mu      sync.Mutex
	live    int           // connections open
	drained chan struct{} // closed when live drops to 0 while Close waits
}

func (arpcFramework) Serve(ln net.Listener) (io.Closer, error) {
	a := &arpcServer{ln: ln, done: make(chan struct{})}
	s := arpc.NewServer()
	s.Codec = arpcProtoCodec{}
	s.Handler.HandleConnected(func(*arpc.Client) {
		a.mu.Lock()
		a.live++
		a.mu.Unlock()
	})
	s.Handler.HandleDisconnected(func(*arpc.Client) {
		a.mu.Lock()
		a.live--
		if a.live == 0 && a.drained != nil {
			close(a.drained)
			a.drained = nil
		}
		a.mu.Unlock()
	})
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
	go func() {
		defer close(a.done)
		// Serve returns once the listener is closed.
		_ = s.Serve(ln)
	}()
	return a, nil
}

// Close waits (up to arpcDrainTimeout) for the clients to hang up, then closes the
// listener; arpc's accept loop then stops any connection left. Stopping connections from
// the server side while their read loops run is a data race inside arpc v1.2.4 (it reads
// Client.running without its lock), and so is its Server.Stop (Server.running): waiting
// for the clients keeps -race runs clean.
func (a *arpcServer) Close() error {
	a.mu.Lock()
	if a.live > 0 {
		drained := make(chan struct{})
		a.drained = drained
		a.mu.Unlock()
		t := time.NewTimer(arpcDrainTimeout)
		select {
		case <-drained:
		case <-t.C:
		}
		t.Stop()
	} else {
		a.mu.Unlock()
	}
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
