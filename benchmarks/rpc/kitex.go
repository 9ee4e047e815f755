//go:build !rpcbench_node || rpcbench_kitex

package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/connpool"
	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/pkg/remote/codec"
	"github.com/cloudwego/kitex/pkg/serviceinfo"
	"github.com/cloudwego/kitex/server"
	"google.golang.org/protobuf/proto"

	"github.com/seed857a6cbd/pocket/benchmarks/internal/echopb"
)

// kitexFramework is cloudwego/kitex over its own framing (TTHeader or length-prefixed) with
// its protobuf payload codec, serving echo.proto's Echo. The service description is written
// here by hand (kitexEchoInfo) in the shape the kitex tool generates for a protobuf IDL:
// argument and result wrappers that marshal with google.golang.org/protobuf. Three entries:
//
//   - "kitex": Kitex's defaults on both sides. Its client is not multiplexed: a pool of
//     long connections, one per call in flight, at most 10 kept idle per address
//     (connpool.IdleConfig{MaxIdlePerAddress: 10, MaxIdleGlobal: 100, MaxIdleTimeout: 1m},
//     what client.NewClient picks without a connection option).
//   - "kitex-pool": the settings of kitex-benchmark's protobuf "kitex" entry: the same pool
//     of long connections, with up to 1000 kept idle (client.WithLongConnection with
//     IdleConfig{MaxIdlePerAddress: 1000, MaxIdleGlobal: 1000, MaxIdleTimeout: 1m}), so
//     that 100 callers keep their 100 connections instead of closing all but 10 after
//     each call and dialing again.
//   - "kitex-mux": the settings of kitex-benchmark's protobuf "kitex-mux" entry:
//     server.WithMuxTransport() and client.WithMuxConnection(2), every caller multiplexed
//     over two connections (TTHeader framing).
//
// Both servers get the default codec with a size limit (MaxPayload + 64), the way the other
// servers bound a request before decoding it; nothing else differs from the defaults.
type kitexFramework struct {
	name string
	mux  bool
	pool *connpool.IdleConfig // nil: Kitex's default pool
}

// kitexMuxConns is kitex-benchmark's client.WithMuxConnection argument.
const kitexMuxConns = 2

// kitexBenchmarkPool is kitex-benchmark's client.WithLongConnection argument.
var kitexBenchmarkPool = connpool.IdleConfig{MaxIdlePerAddress: 1000, MaxIdleGlobal: 1000, MaxIdleTimeout: time.Minute}

// kitexStopTimeout bounds how long Close waits for the server's Run to return (Kitex waits
// up to its ExitWaitTime, 5 s, for connections still in use).
const kitexStopTimeout = 10 * time.Second

func init() {
	// Kitex logs every connection's end at Info and more; the benchmark prints its own errors.
	klog.SetLevel(klog.LevelFatal)
	Register(kitexFramework{name: "kitex"})
	Register(kitexFramework{name: "kitex-pool", pool: &kitexBenchmarkPool})
	Register(kitexFramework{name: "kitex-mux", mux: true})
}

func (f kitexFramework) Name() string { return f.name }

// kitexEchoArgs is Echo's argument wrapper, the message Kitex's protobuf codec writes: a
// ProtobufMsgCodec (Marshal appends, Unmarshal decodes).
type kitexEchoArgs struct {
	Req *echopb.EchoRequest
}

func (a *kitexEchoArgs) Marshal(out []byte) ([]byte, error) {
	return proto.MarshalOptions{}.MarshalAppend(out, a.Req)
}

// Unmarshal decodes in; protobuf copies bytes fields, so the payload does not alias Kitex's
// read buffer, which it reuses.
func (a *kitexEchoArgs) Unmarshal(in []byte) error {
	a.Req = &echopb.EchoRequest{}
	return proto.Unmarshal(in, a.Req)
}

// GetFirstArgument is what Kitex's middlewares read as the request.
func (a *kitexEchoArgs) GetFirstArgument() any { return a.Req }

// kitexEchoResult is Echo's result wrapper.
type kitexEchoResult struct {
	Success *echopb.EchoResponse
}

func (r *kitexEchoResult) Marshal(out []byte) ([]byte, error) {
	return proto.MarshalOptions{}.MarshalAppend(out, r.Success)
}

func (r *kitexEchoResult) Unmarshal(in []byte) error {
	r.Success = &echopb.EchoResponse{}
	return proto.Unmarshal(in, r.Success)
}

// GetResult and SetSuccess are what Kitex's middlewares use to read and set the response.
func (r *kitexEchoResult) GetResult() any { return r.Success }

func (r *kitexEchoResult) SetSuccess(x any) { r.Success, _ = x.(*echopb.EchoResponse) }

// kitexEchoHandler is the service's handler interface (the HandlerType of its info).
type kitexEchoHandler interface {
	Echo(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error)
}

// kitexEcho is the handler; Kitex wants a pointer.
type kitexEcho struct{}

func (kitexEcho) Echo(_ context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
	if err := checkPayload(len(req.GetPayload())); err != nil {
		return nil, err
	}
	return &echopb.EchoResponse{Payload: req.GetPayload()}, nil
}

// kitexEchoMethod is the method name on the wire.
const kitexEchoMethod = "Echo"

// kitexEchoInfo describes the Echo service to Kitex's client and server.
var kitexEchoInfo = &serviceinfo.ServiceInfo{
	ServiceName:  "Echo",
	HandlerType:  (*kitexEchoHandler)(nil),
	PayloadCodec: serviceinfo.Protobuf,
	Methods: map[string]serviceinfo.MethodInfo{
		kitexEchoMethod: serviceinfo.NewMethodInfo(
			func(ctx context.Context, handler, args, result any) error {
				resp, err := handler.(kitexEchoHandler).Echo(ctx, args.(*kitexEchoArgs).Req)
				if err != nil {
					return err
				}
				result.(*kitexEchoResult).Success = resp
				return nil
			},
			func() any { return &kitexEchoArgs{} },
			func() any { return &kitexEchoResult{} },
			false,
		),
	},
	Extra: map[string]any{serviceinfo.PackageName: "pocket.benchmarks.echo"},
}

type kitexServer struct {
	stop chan error // WithExitSignal's channel: a value makes Run stop the server
	done chan error // Run's result
}

func (f kitexFramework) Serve(ln net.Listener) (io.Closer, error) {
	k := &kitexServer{stop: make(chan error, 1), done: make(chan error, 1)}
	opts := []server.Option{
		server.WithListener(ln),
		server.WithCodec(codec.NewDefaultCodecWithSizeLimit(MaxPayload + 64)),
		// Run returns when Close sends on stop, not on SIGINT/SIGTERM (Kitex's default
		// installs a signal handler).
		server.WithExitSignal(func() <-chan error { return k.stop }),
	}
	if f.mux {
		opts = append(opts, server.WithMuxTransport())
	}
	s := server.NewServer(opts...)
	if err := s.RegisterService(kitexEchoInfo, &kitexEcho{}); err != nil {
		ln.Close()
		return nil, fmt.Errorf("rpc: %s: %w", f.name, err)
	}
	go func() { k.done <- s.Run() }()
	return k, nil
}

// Close stops the server (Run closes the listener and the connections) and waits up to
// kitexStopTimeout for it.
func (k *kitexServer) Close() error {
	k.stop <- nil
	t := time.NewTimer(kitexStopTimeout)
	defer t.Stop()
	select {
	case err := <-k.done:
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
		return err
	case <-t.C:
		return errors.New("rpc: kitex: server did not stop in time")
	}
}

type kitexClient struct {
	c client.Client
}

func (f kitexFramework) Dial(addr string, _ DialOptions) (Client, error) {
	opts := []client.Option{client.WithHostPorts(addr), client.WithDestService(kitexEchoInfo.ServiceName)}
	switch {
	case f.mux:
		opts = append(opts, client.WithMuxConnection(kitexMuxConns))
	case f.pool != nil:
		opts = append(opts, client.WithLongConnection(*f.pool))
	}
	c, err := client.NewClient(kitexEchoInfo, opts...)
	if err != nil {
		return nil, fmt.Errorf("rpc: %s: %w", f.name, err)
	}
	k := kitexClient{c}
	if f.mux {
		if err := k.openMuxConns(); err != nil {
			k.Close()
			return nil, fmt.Errorf("rpc: %s: %w", f.name, err)
		}
	}
	return k, nil
}

// kitexDialTimeout bounds each of the calls openMuxConns makes (5 s).
const kitexDialTimeout = 5 * time.Second

// openMuxConns makes kitexMuxConns calls one after the other, so that the mux client has
// dialled all its connections before callers share it. Kitex v0.16.3's mux pool fills its
// connection slots without a lock (netpollmux/mux_pool.go: conns.put writes a slot that
// conns.get reads), a data race that -race reports when concurrent first calls open them;
// once every slot holds a live connection it writes none again. These calls happen before
// any measured window.
func (k kitexClient) openMuxConns() error {
	for range kitexMuxConns {
		ctx, cancel := context.WithTimeout(context.Background(), kitexDialTimeout)
		_, err := k.Echo(ctx, nil)
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

func (k kitexClient) Echo(ctx context.Context, payload []byte) ([]byte, error) {
	res := &kitexEchoResult{}
	if err := k.c.Call(ctx, kitexEchoMethod, &kitexEchoArgs{Req: &echopb.EchoRequest{Payload: payload}}, res); err != nil {
		return nil, err
	}
	return res.Success.GetPayload(), nil
}

// Close releases the client's connections (Kitex's client has Close but its interface does
// not name it).
func (k kitexClient) Close() error {
	if c, ok := k.c.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
