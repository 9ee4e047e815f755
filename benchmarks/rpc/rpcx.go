//go:build !rpcbench_node || rpcbench_rpcx

package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	rpcxclient "github.com/smallnest/rpcx/client"
	rpcxlog "github.com/smallnest/rpcx/log"
	"github.com/smallnest/rpcx/protocol"
	rpcxserver "github.com/smallnest/rpcx/server"

	"github.com/seed857a6cbd/pocket/benchmarks/internal/echopb"
)

// rpcxFramework is smallnest/rpcx with its defaults but the codec: its client's
// SerializeType is protocol.ProtoBuffer (the default is MessagePack), as in kitex-benchmark's
// rpcx entry, so the wire carries echo.proto's messages like every other entry. One
// rpcx client (one connection, calls multiplexed by sequence number) shared by every
// caller; the server runs each request on a goroutine of its own (rpcx's default; it has a
// worker pool, server.UsePool, that kitex-benchmark turns on: not done here, it is a global).
type rpcxFramework struct{}

const (
	rpcxService = "Echo"
	rpcxMethod  = "Echo"
	// rpcxStopTimeout bounds how long Close waits for the accept loop to return.
	rpcxStopTimeout = 5 * time.Second
)

func init() {
	rpcxlog.SetDummyLogger()
	// rpcx's only bound on what it reads is this global (0, no limit, by default): set it so
	// the server refuses a request over MaxPayload before it allocates for it, as the
	// other servers do.
	protocol.MaxMessageLength = MaxPayload + 1024
	Register(rpcxFramework{})
}

func (rpcxFramework) Name() string { return "rpcx" }

// RPCXEcho is the rpcx service; rpcx finds its methods by reflection, so they are exported.
type RPCXEcho struct{}

// Echo answers req with its payload.
func (RPCXEcho) Echo(_ context.Context, req *echopb.EchoRequest, resp *echopb.EchoResponse) error {
	if err := checkPayload(len(req.GetPayload())); err != nil {
		return err
	}
	resp.Payload = req.GetPayload()
	return nil
}

type rpcxServer struct {
	s    *rpcxserver.Server
	done chan struct{}
}

func (rpcxFramework) Serve(ln net.Listener) (io.Closer, error) {
	s := rpcxserver.NewServer()
	if err := s.RegisterName(rpcxService, RPCXEcho{}, ""); err != nil {
		ln.Close()
		return nil, fmt.Errorf("rpc: rpcx: %w", err)
	}
	r := &rpcxServer{s: s, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		// ServeListener returns once Close closes the listener.
		_ = s.ServeListener("tcp", ln)
	}()
	return r, nil
}

// Close closes the listener and every connection, and waits (up to rpcxStopTimeout) for
// the accept loop to return.
func (r *rpcxServer) Close() error {
	// rpcx's Close only closes what ServeListener has registered: wait until it has.
	<-r.s.Started
	err := r.s.Close()
	t := time.NewTimer(rpcxStopTimeout)
	defer t.Stop()
	select {
	case <-r.done:
	case <-t.C:
		return errors.New("rpc: rpcx: accept loop did not stop in time")
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

type rpcxClient struct{ c *rpcxclient.Client }

func (rpcxFramework) Dial(addr string, _ DialOptions) (Client, error) {
	opt := rpcxclient.DefaultOption
	opt.SerializeType = protocol.ProtoBuffer
	c := rpcxclient.NewClient(opt)
	if err := c.Connect("tcp", addr); err != nil {
		return nil, fmt.Errorf("rpc: rpcx: %w", err)
	}
	return rpcxClient{c}, nil
}

func (r rpcxClient) Echo(ctx context.Context, payload []byte) ([]byte, error) {
	resp := &echopb.EchoResponse{}
	if err := r.c.Call(ctx, rpcxService, rpcxMethod, &echopb.EchoRequest{Payload: payload}, resp); err != nil {
		return nil, err
	}
	return resp.GetPayload(), nil
}

func (r rpcxClient) Close() error { return r.c.Close() }
