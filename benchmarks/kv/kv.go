// Package kv is the entry-task suite: the etserver program as shipped (built from
// entrytask-server/cmd/etserver by Build, started by StartServer on a fresh embedded or
// MySQL + Redis store it seeds itself), called by the clients of the registry over its one
// public contract, the kv.Store messages of entrytask-server/kvpb: login, then reads or
// writes with the session token in request metadata `token`, within the per-user quotas.
// The suite imports nothing else of entrytask-server. (Its grpc-go twin, a copy of
// etserver's API layer serving the same use cases, was dropped in issue #18: grpc-go is
// compared with dora on the echo service of the rpc suite.)
//
// The load (Load) logs in once per user and client and then reads, or writes, one key
// per user with a 2000-byte value, closed loop, the way the entry task's benchmark did.
package kv

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
)

// The operations of the load.
const (
	OpRead  = "read"
	OpWrite = "write"
)

// Ops lists the operations in run order.
var Ops = []string{OpRead, OpWrite}

// DefaultValue is the value size of the load in bytes: what the entry task's clients send.
const DefaultValue = 2000

// Errors the clients return (wrapped) for the answers that are not plain failures.
var (
	// ErrIncorrectCredentials is Login's INCORRECT_USERNAME_OR_PASSWORD status.
	ErrIncorrectCredentials = errors.New("kv: incorrect username or password")
	// ErrKeyNotExist is a read's KEY_NOT_EXIST status.
	ErrKeyNotExist = errors.New("kv: key does not exist")
	// ErrUnauthenticated is the Unauthenticated status code of either framework.
	ErrUnauthenticated = errors.New("kv: unauthenticated")
	// ErrResourceExhausted is the ResourceExhausted status code (over quota).
	ErrResourceExhausted = errors.New("kv: resource exhausted")
	// ErrBadReply is a read whose value is not the one written.
	ErrBadReply = errors.New("kv: bad reply")
)

// Framework is one client of etserver's kv.Store service.
type Framework interface {
	// Name is the registered name ("etserver": dora's client, as etclient uses it).
	Name() string
	// Dial returns a client of the service at addr, safe for concurrent use.
	Dial(addr string) (Client, error)
}

// Client is a connected client of the key/value service.
type Client interface {
	// Login returns the session token of username.
	Login(ctx context.Context, username, password string) (string, error)
	// WithToken returns ctx carrying token in the request metadata of the calls below.
	WithToken(ctx context.Context, token string) context.Context
	// Read returns the value of key.
	Read(ctx context.Context, key []byte) ([]byte, error)
	// Write stores value under key.
	Write(ctx context.Context, key, value []byte) error
	// Close releases the client's connections.
	Close() error
}

var registry = harness.NewRegistry[Framework]("kv", "framework")

// Register adds f to the registry; it panics when the name is taken (a programming
// error in an init function). A client's file starts with the build constraint
// `//go:build !rpcbench_node || rpcbench_<name>`, so that rpcbench's node build of it
// (-tags rpcbench_node,rpcbench_<name>, cmd/rpcbench/node.go) links that client alone.
func Register(f Framework) { registry.Register(f) }

// Names returns the registered names, sorted.
func Names() []string { return registry.Names() }

// Lookup returns the framework registered under name.
func Lookup(name string) (Framework, error) { return registry.Lookup(name) }

// LoadUsers is how many seeded users a Load spreads its workers over by default: one
// user's write quota (33,336/s for user 33,333) is within etserver's reach on two cores,
// and a call over quota would fail the run; four users' quotas are not.
const LoadUsers = 4

// Load is one client's share of the benchmark: it logs in once as each of Users users
// ending at User (password = the username, as seeded) and, for OpRead, writes the value
// to each one's key; then worker i repeats Op on that key as user i mod Users, with that
// user's one token.
type Load struct {
	Op    string // OpRead or OpWrite
	User  int    // the last seeded user to log in as; 0 means DefaultUser
	Users int    // users User-Users+1 .. User; 0 means LoadUsers (fewer when User is smaller)
	Value int    // value size in bytes; 0 means DefaultValue
	Key   string // "" means "a" for reads, "w" for writes
}

// Prepare logs in and writes the values a read load reads (ctx bounds these calls, not
// the workers' calls); it returns the harness worker factory of the load.
func (l Load) Prepare(ctx context.Context, c Client) (func(int) (harness.Worker, error), error) {
	if l.Op != OpRead && l.Op != OpWrite {
		return nil, fmt.Errorf("kv: unknown op %q (have %v)", l.Op, Ops)
	}
	last := l.User
	if last == 0 {
		last = DefaultUser
	}
	users := l.Users
	if users == 0 {
		users = LoadUsers
	}
	users = min(users, last)
	if users < 1 {
		return nil, fmt.Errorf("kv: %d users to log in as", users)
	}
	size := l.Value
	if size == 0 {
		size = DefaultValue
	}
	key := l.Key
	if key == "" {
		key = "a"
		if l.Op == OpWrite {
			key = "w"
		}
	}
	value := bytes.Repeat([]byte{'v'}, size)
	k := []byte(key)
	authed := make([]context.Context, users)
	for i := range authed {
		name := fmt.Sprint(last - i)
		tok, err := c.Login(ctx, name, name)
		if err != nil {
			return nil, fmt.Errorf("kv: login as %s: %w", name, err)
		}
		if l.Op == OpRead {
			if err := c.Write(c.WithToken(ctx, tok), k, value); err != nil {
				return nil, fmt.Errorf("kv: writing the value %s reads: %w", name, err)
			}
		}
		authed[i] = c.WithToken(context.Background(), tok)
	}
	return func(i int) (harness.Worker, error) {
		ctx := authed[i%users]
		if l.Op == OpWrite {
			return harness.Worker{Call: func() error { return c.Write(ctx, k, value) }}, nil
		}
		return harness.Worker{Call: func() error {
			v, err := c.Read(ctx, k)
			if err != nil {
				return err
			}
			if len(v) != len(value) {
				return fmt.Errorf("%w: read %d bytes, want %d", ErrBadReply, len(v), len(value))
			}
			return nil
		}}, nil
	}, nil
}
