//go:build !rpcbench_node || rpcbench_dora

package rpc

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/nap"

	"github.com/seed857a6cbd/pocket/benchmarks/internal/echodora"
	"github.com/seed857a6cbd/pocket/benchmarks/internal/echopb"
)

// doraFramework is dora: one Client (up to dora.DefaultMaxConns nap sessions to the one
// server) shared by every caller, plaintext. "dora" is the server with doraPerfOptions and
// the client with doraPerfClientOptions and LeaseReply (how the goals are measured);
// "dora-default" is both sides with dora's plain defaults.
type doraFramework struct {
	name       string
	opts       []dora.ServerOption
	clientOpts []dora.ClientOption
	lease      bool   // the client is a Lender (doraLeaseClient)
	congestion string // nap.Config.Congestion on both sides
}

func init() {
	Register(doraFramework{name: "dora", opts: doraPerfOptions, clientOpts: doraPerfClientOptions, lease: true,
		congestion: doraCongestion})
	Register(doraFramework{name: "dora-default"})
}

func (d doraFramework) Name() string { return d.name }

// napConfig is doraNapConfig with the entry's congestion control.
func (d doraFramework) napConfig() nap.Config {
	c := doraNapConfig()
	c.Congestion = d.congestion
	return c
}

type doraEcho struct {
	echodora.UnimplementedEchoServer
}

func (doraEcho) Echo(_ context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
	if err := checkPayload(len(req.GetPayload())); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &echopb.EchoResponse{Payload: req.GetPayload()}, nil
}

// doraNapConfig returns nap's configuration on both sides: messages of MaxPayload, and buffer
// budgets (nap's defaults: 16 MiB per connection, 64 MiB per server) raised to 1 GiB
// and 2 GiB, so that 100 callers of 4 MiB each measure speed and not the budgets'
// shedding (RESOURCE_EXHAUSTED), which the other frameworks do not have. In a process
// with one P (the suite pins each process to one CPU) it also sets YieldToReader, which
// nap applied by itself before issue #18 made it an option: the large-payload rows are
// measured as before; and EagerCredit, nap's EXPERIMENTAL option that sends the credit
// for a large request before the handler asks for it (nap/BENCHMARKS.md, "Eager credit").
func doraNapConfig() nap.Config {
	one := runtime.GOMAXPROCS(0) == 1
	return nap.Config{
		MaxMessageSize: MaxPayload + 64, MaxConnBuffered: 1 << 30, MaxServerBuffered: 2 << 30,
		YieldToReader: one, EagerCredit: one,
	}
}

// doraCongestion is the TCP congestion control of the "dora" entry's connections, on both
// sides (nap.Config.Congestion): "cubic" when this kernel has it, "" (the system's)
// otherwise. A machine whose default is BBR without the fq qdisc paces each TCP connection
// with a timer, which holds back one connection carrying many large messages at once,
// as dora's and every other multiplexer's does, far more than raw TCP's one connection per
// caller (BENCHMARKS.md, "Congestion control"). "dora-default" keeps the system's.
var doraCongestion = func() string {
	if nap.VerifyConfig(&nap.Config{Congestion: "cubic"}) != nil {
		return "" // not Linux, or a kernel without cubic
	}
	return "cubic"
}()

// doraPerfOptions are dora's EXPERIMENTAL server performance options, off by default: idle
// call goroutines kept for the next call, and the handler's context built on demand. Between
// one-core processes a goroutine per call costs the server about a third of its calls per
// CPU-second (dora/BENCHMARKS.md, issue #18); the suite measures dora with them on, as the
// goals were measured before they became options.
//
// Both sides of "dora" also set SendInPlace, dora's EXPERIMENTAL option that sends a large
// bytes field (the echo payload, from 64 KiB) from the message's memory instead of copying
// it into the encoding: one copy of the payload less per message on each sender
// (dora/BENCHMARKS.md, "large fields sent in place"); and each receiver decodes that
// field in place: the server with AliasRequests, the client with LeaseReply
// (doraLeaseClient), so that the received buffer goes back to nap's pool for the next
// message instead of the payload being copied into new memory (dora/BENCHMARKS.md,
// "Large fields decoded in place"). The echo handler returns the request's field, which
// AliasRequests allows: the buffer is reused only after the response was sent.
var doraPerfOptions = []dora.ServerOption{dora.IdleCallWorkers(256), dora.LazyCallContext(true), dora.SendInPlace(true),
	dora.AliasRequests(true)}

// doraPerfClientOptions are the client's side of "dora": SendInPlace for the requests.
var doraPerfClientOptions = []dora.ClientOption{dora.SendInPlace(true)}

type doraServer struct{ s *dora.Server }

func (d doraServer) Close() error {
	d.s.Stop()
	return nil
}

func (d doraFramework) Serve(ln net.Listener) (io.Closer, error) {
	opts := append([]dora.ServerOption{dora.WithNapConfig(d.napConfig()), dora.MaxRecvMsgSize(MaxPayload + 64)},
		d.opts...)
	s := dora.NewServer(opts...)
	echodora.RegisterEchoServer(s, doraEcho{})
	go func() {
		// Serve returns when Stop closes the listener.
		_ = s.Serve(ln)
	}()
	return doraServer{s}, nil
}

type doraClient struct {
	conn *dora.Client
	c    echodora.EchoClient
}

func (d doraFramework) Dial(addr string, _ DialOptions) (Client, error) {
	opts := append([]dora.ClientOption{dora.WithNapConfig(d.napConfig())}, d.clientOpts...)
	conn, err := dora.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("rpc: dora: %w", err)
	}
	c := &doraClient{conn: conn, c: echodora.NewEchoClient(conn)}
	if d.lease {
		return doraLeaseClient{c}, nil
	}
	return c, nil
}

func (d *doraClient) Echo(ctx context.Context, payload []byte) ([]byte, error) {
	resp, err := d.c.Echo(ctx, &echopb.EchoRequest{Payload: payload})
	if err != nil {
		return nil, err
	}
	return resp.GetPayload(), nil
}

// doraLeaseClient is "dora"'s client: a Lender whose callers decode their responses
// under dora's LeaseReply (EXPERIMENTAL, per call), each caller's lease released when
// its next call starts, so that a large response's memory (from nap's buffer pool)
// serves the next one instead of a copy into new memory. "dora-default" decodes copies.
type doraLeaseClient struct{ *doraClient }

// Borrower returns one caller's Echo under LeaseReply.
func (d doraLeaseClient) Borrower() func(context.Context, []byte) ([]byte, error) {
	var lease dora.Lease
	opts := []dora.CallOption{dora.LeaseReply(&lease)}
	return func(ctx context.Context, payload []byte) ([]byte, error) {
		lease.Release()
		resp, err := d.c.Echo(ctx, &echopb.EchoRequest{Payload: payload}, opts...)
		if err != nil {
			return nil, err
		}
		return resp.GetPayload(), nil
	}
}

func (d *doraClient) Close() error { return d.conn.Close() }
