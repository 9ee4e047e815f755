// Package kvfake is an in-memory test double of etserver behind the kvclient.Client
// interface.
//
// It exists because the real server (etserver on dora) is not buildable yet; etclient's own
// tests use it for the command-line plumbing and the benchmark engine, and end-to-end tests
// against etserver on loopback replace it where they can once the server lands. It models the
// behaviour etclient relies on: login with INCORRECT_USERNAME_OR_PASSWORD for unknown users and
// wrong passwords alike, random session tokens, UNAUTHENTICATED for an empty, unknown or
// mismatched session, one key namespace per user and KEY_NOT_EXIST for a missing key. It does
// not model quotas, size limits, TTLs or the network.
package kvfake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"

	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
)

// Method names passed to a Hook.
const (
	MethodLogin = "Login"
	MethodRead  = "ReadSecureMessage"
	MethodWrite = "WriteSecureMessage"
)

// Hook runs at the start of every call with the call's context, method name and user (the
// login name, or the user argument of Read/Write). A non-nil error is returned by the call
// without further effect. Hooks are how tests inject latency and failures.
type Hook func(ctx context.Context, method, user string) error

// Server is the fake service; its methods are safe for concurrent use. The zero value is not
// usable: call New.
type Server struct {
	hook Hook

	mu       sync.Mutex
	users    map[string]string            // username -> password
	sessions map[string]string            // token -> username
	kv       map[string]map[string]string // username -> key -> value
	calls    map[string]int
	closed   bool
}

// New returns a fake server with users "1".."seed" whose passwords equal their names (the
// convention of `etserver seed`), and hook (nil for none) run at the start of every call.
func New(seed int, hook Hook) *Server {
	s := &Server{
		hook:     hook,
		users:    make(map[string]string, seed),
		sessions: make(map[string]string),
		kv:       make(map[string]map[string]string),
		calls:    make(map[string]int),
	}
	for i := 1; i <= seed; i++ {
		n := strconv.Itoa(i)
		s.users[n] = n
	}
	return s
}

// AddUser creates or replaces an account.
func (s *Server) AddUser(user, pass string) {
	s.mu.Lock()
	s.users[user] = pass
	s.mu.Unlock()
}

// Calls returns how many calls of method reached the server (including failed ones).
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// Value returns the stored value of user's key, for assertions.
func (s *Server) Value(user, key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.kv[user][key]
	return v, ok
}

// Closed reports whether Close was called.
func (s *Server) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) enter(ctx context.Context, method, user string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	s.calls[method]++
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return kvclient.Errorf(kvclient.Code(codes.Unavailable), "client is closed")
	}
	if s.hook != nil {
		return s.hook(ctx, method, user)
	}
	return nil
}

// Login implements kvclient.Client.
func (s *Server) Login(ctx context.Context, user, pass string) (string, error) {
	if err := s.enter(ctx, MethodLogin, user); err != nil {
		return "", err
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.users[user]; !ok || p != pass {
		return "", kvclient.Errorf(kvclient.CodeIncorrectUsernameOrPassword, "incorrect username or password")
	}
	s.sessions[tok] = user
	return tok, nil
}

// session checks token and user under s.mu.
func (s *Server) session(token, user string) (string, error) {
	if token == "" {
		return "", kvclient.Errorf(kvclient.Code(codes.Unauthenticated), "missing session token")
	}
	u, ok := s.sessions[token]
	if !ok {
		return "", kvclient.Errorf(kvclient.Code(codes.Unauthenticated), "invalid session token")
	}
	if user != "" && user != u {
		return "", kvclient.Errorf(kvclient.Code(codes.Unauthenticated), "username does not match the session")
	}
	return u, nil
}

// Read implements kvclient.Client.
func (s *Server) Read(ctx context.Context, token, user, key string) (string, error) {
	if err := s.enter(ctx, MethodRead, user); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.session(token, user)
	if err != nil {
		return "", err
	}
	v, ok := s.kv[u][key]
	if !ok {
		return "", kvclient.Errorf(kvclient.CodeKeyNotExist, "key does not exist")
	}
	return v, nil
}

// Write implements kvclient.Client.
func (s *Server) Write(ctx context.Context, token, user, key, value string) error {
	if err := s.enter(ctx, MethodWrite, user); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.session(token, user)
	if err != nil {
		return err
	}
	m := s.kv[u]
	if m == nil {
		m = make(map[string]string)
		s.kv[u] = m
	}
	m[key] = value
	return nil
}

// Close implements kvclient.Client; later calls fail with Code(codes.Unavailable).
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

var _ kvclient.Client = (*Server)(nil)
