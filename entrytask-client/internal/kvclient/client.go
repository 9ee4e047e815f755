// Package kvclient is etclient's view of the etserver KV service: a small Client interface
// (login, read, write) with typed, status-coded errors, so that the command-line plumbing and
// the benchmark engine do not depend on the transport.
//
// The production implementation, returned by Dial, speaks dora to etserver's kv.Store
// service (one instance, or several balanced with lbclient through dora's lb:/// targets);
// with Options.Legacy it speaks the previous version's frames instead (etclient --legacy).
// The in-memory test double in package kvfake is the other implementation; both pass the
// conformance suite in package kvclienttest.
package kvclient

import (
	"context"
)

// Client is a connection (or a balanced set of connections) to etserver.
//
// Every method is safe for concurrent use by many goroutines; the benchmark shares one Client
// between all its workers. Errors returned by Login, Read and Write are *Error values (use
// CodeOf to classify any error) except when the context ends first, in which case the
// context's error is returned, possibly wrapped.
type Client interface {
	// Login checks user and pass and returns a new session token. A wrong password and an
	// unknown user both fail with CodeIncorrectUsernameOrPassword.
	Login(ctx context.Context, user, pass string) (token string, err error)
	// Read returns the value stored under key in the namespace of the session's user. token
	// is the session token from Login ("" means no session, which the server refuses with
	// Code(codes.Unauthenticated)); user is sent along as the legacy `username` metadata and must
	// match the token's user. A missing key fails with CodeKeyNotExist.
	Read(ctx context.Context, token, user, key string) (value string, err error)
	// Write stores value under key in the namespace of the session's user; token and user as
	// for Read.
	Write(ctx context.Context, token, user, key, value string) error
	// Close releases the connections. Calls made after Close fail with Code(codes.Unavailable).
	// Close is idempotent.
	Close() error
}
