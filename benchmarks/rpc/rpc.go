// Package rpc is the registry of the RPC frameworks compared by the RPC suite (grpc-go,
// arpc, net/http + protobuf, Kitex with its defaults and with kitex-benchmark's mux
// settings, rpcx, and raw TCP as the wire's limit; dora joins with one file) and the echo
// load they run.
//
// Every framework serves the same unary call: an echopb.EchoRequest whose payload comes
// back in an echopb.EchoResponse, protobuf-encoded on the wire (arpc and rpcx are given
// their protobuf codec, Kitex its protobuf payload codec), plaintext over loopback TCP;
// rawtcp sends the bare payload.
//
// Adding a framework is one file with an init function calling Register, whose first line
// is the build constraint `//go:build !rpcbench_node || rpcbench_<name>` (<name> before any
// "-": dora-default shares dora's file): a default build holds every framework, and
// rpcbench builds each framework's processes with -tags rpcbench_node,rpcbench_<name>, so
// that they link that framework alone (cmd/rpcbench/node.go).
package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
)

// MaxPayload is the largest payload a framework is asked to carry (4 MiB, the large-message
// rows of issue #17); servers refuse larger requests, and every client accepts replies of
// this size plus the protobuf overhead (grpc-go's and dora's default limit is 4 MiB in
// all).
const MaxPayload = 4 << 20

// ErrBadReply is returned (wrapped) when an echo does not match what was sent.
var ErrBadReply = errors.New("rpc: bad reply")

// Framework is one RPC implementation under test.
type Framework interface {
	// Name is the registered name ("grpc", "arpc", "nethttp", "dora", "kitex", ...).
	Name() string
	// Serve serves the echo service on ln until the returned closer is closed; closing
	// it closes ln and every connection.
	Serve(ln net.Listener) (io.Closer, error)
	// Dial returns a client of the echo service at addr, safe for concurrent use.
	Dial(addr string, opts DialOptions) (Client, error)
}

// DialOptions tells a framework how its client will be used.
type DialOptions struct {
	// Concurrency is how many goroutines will call the client at once (0 means 1).
	// Frameworks that need a connection per call in flight (net/http/1.1) size their
	// pool with it; multiplexing frameworks use one connection whatever it is.
	Concurrency int
}

// Client is a connected echo client.
type Client interface {
	// Echo sends payload and returns the payload of the response.
	Echo(ctx context.Context, payload []byte) ([]byte, error)
	// Close releases the client's connections.
	Close() error
}

// A Lender is a Client that can lend each caller memory for its replies instead of
// allocating one per reply: the harness gives every worker its own Borrower. dora (its
// LeaseReply) and rawtcp (a buffer per caller) are Lenders; the other frameworks' APIs
// return a new reply per call.
type Lender interface {
	Client
	// Borrower returns an Echo for one goroutine whose reply stays valid until that
	// function's next call, which may reuse the reply's memory.
	Borrower() func(ctx context.Context, payload []byte) ([]byte, error)
}

var registry = harness.NewRegistry[Framework]("rpc", "framework")

// Register adds f to the registry; it panics when the name is taken (a programming
// error in an init function).
func Register(f Framework) { registry.Register(f) }

// Names returns the registered names, sorted.
func Names() []string { return registry.Names() }

// Lookup returns the framework registered under name.
func Lookup(name string) (Framework, error) { return registry.Lookup(name) }

func checkPayload(n int) error {
	if n > MaxPayload {
		return fmt.Errorf("rpc: payload of %d bytes exceeds limit %d", n, MaxPayload)
	}
	return nil
}

// NewWorker returns a harness worker factory: every worker calls c.Echo (its own
// Borrower when c is a Lender) with its own payload-byte request and checks the reply.
func NewWorker(c Client, payload int) func(int) (harness.Worker, error) {
	return func(i int) (harness.Worker, error) {
		if err := checkPayload(payload); err != nil {
			return harness.Worker{}, err
		}
		req := bytes.Repeat([]byte{byte('a' + i%26)}, payload)
		ctx := context.Background()
		echo := c.Echo
		if l, ok := c.(Lender); ok {
			echo = l.Borrower()
		}
		return harness.Worker{Call: func() error {
			resp, err := echo(ctx, req)
			if err != nil {
				return err
			}
			if len(resp) != len(req) || (len(req) > 0 && resp[0] != req[0]) {
				return fmt.Errorf("%w: sent %d bytes, got %d back", ErrBadReply, len(req), len(resp))
			}
			return nil
		}}, nil
	}
}
