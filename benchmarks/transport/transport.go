// Package transport is the registry of the transports compared by the transport suite
// (yamux, smux, raw TCP; nap joins with one file) and the benchmark protocol they carry.
//
// Every transport serves the same two kinds of logical stream over ONE TCP connection
// per session: echo streams (each message is sent back) and sink streams (messages are
// discarded; Sync waits until the server has read everything). A message is at most
// MaxMessage bytes.
//
// Adding a transport is one file with an init function calling Register, whose first line
// is the build constraint `//go:build !rpcbench_node || rpcbench_<name>`: rpcbench builds
// each transport's processes with -tags rpcbench_node,rpcbench_<name>, so that they link
// that transport alone (cmd/rpcbench/node.go).
package transport

import (
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
)

// MaxMessage is the largest message a stream carries (1 MiB); longer ones are refused
// before anything is allocated.
const MaxMessage = 1 << 20

// ErrMessageTooLarge is returned (wrapped) for a message longer than MaxMessage, sent or
// announced by the peer.
var ErrMessageTooLarge = errors.New("transport: message too large")

// ErrBadReply is returned (wrapped) when an echo does not match what was sent.
var ErrBadReply = errors.New("transport: bad reply")

// Kind is the kind of a logical stream.
type Kind byte

const (
	// Echo streams get every message back.
	Echo Kind = 'E'
	// Sink streams have their messages discarded by the server.
	Sink Kind = 'S'
)

// Transport is one implementation under test.
type Transport interface {
	// Name is the registered name ("yamux", "smux", "tcp", "nap").
	Name() string
	// Serve serves the benchmark protocol on ln until the returned closer is closed;
	// closing it closes ln, every session and waits for the serving goroutines.
	Serve(ln net.Listener) (io.Closer, error)
	// Dial opens a client session: one TCP connection to addr.
	Dial(addr string) (Session, error)
}

// Session is one client connection carrying any number of logical streams.
type Session interface {
	// Open opens a logical stream of the given kind. A stream is used by one goroutine.
	Open(kind Kind) (Stream, error)
	// Close closes the connection and every stream.
	Close() error
}

// Stream is one logical stream.
type Stream interface {
	// Echo sends req as one message and reads the echo into resp, which must be at
	// least len(req) long. Echo streams only.
	Echo(req, resp []byte) error
	// Send sends p one way. Sink streams only.
	Send(p []byte) error
	// Sync returns once the server has read everything sent before it. Sink streams only.
	Sync() error
	// Close closes the stream.
	Close() error
}

var registry = harness.NewRegistry[Transport]("transport", "transport")

// Register adds t to the registry; it panics when the name is taken (a programming
// error in an init function).
func Register(t Transport) { registry.Register(t) }

// Names returns the registered names, sorted.
func Names() []string { return registry.Names() }

// Lookup returns the transport registered under name.
func Lookup(name string) (Transport, error) { return registry.Lookup(name) }

func checkLen(n int) error {
	if n > MaxMessage {
		return fmt.Errorf("%w: %d bytes exceeds limit %d", ErrMessageTooLarge, n, MaxMessage)
	}
	return nil
}
