package kvclient

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

// Metadata keys of etserver's session: the token from Login, and the legacy user name
// (which, when sent, must be the token's user).
const (
	mdToken    = "token"
	mdUsername = "username"
)

// errClosed is the error of calls made after Close.
var errClosed = &Error{Code: CodeUnavailable, Message: "client closed"}

// doraClient is the Client over a dora connection (single-target or balanced) to etserver.
type doraClient struct {
	conn   *dora.Client
	store  kvpb.StoreClient
	closed atomic.Bool
	once   sync.Once
	err    error

	// sessions caches the call option of each (token, user) seen, up to maxSessionOpts,
	// so that a call with a known session builds no metadata.
	sessMu   sync.RWMutex
	sessions map[sessionKey]dora.CallOption
}

type sessionKey struct{ token, user string }

// maxSessionOpts bounds the cached session call options (a benchmark's --users).
const maxSessionOpts = 1 << 16

var (
	_ Client     = (*doraClient)(nil)
	_ SizeReader = (*doraClient)(nil)
)

func (c *doraClient) Login(ctx context.Context, user, pass string) (string, error) {
	if c.closed.Load() {
		return "", errClosed
	}
	rsp, err := c.store.Login(ctx, &kvpb.LoginReq{Username: user, Password: pass})
	if err != nil {
		return "", rpcError(err)
	}
	if err := appError(rsp.GetStatus()); err != nil {
		return "", err
	}
	if rsp.GetToken() == "" {
		return "", Errorf(CodeInternal, "login answered OK without a token")
	}
	return rsp.GetToken(), nil
}

func (c *doraClient) Read(ctx context.Context, token, user, key string) (string, error) {
	v, err := c.read(ctx, token, user, key)
	return string(v), err
}

// ReadSize implements SizeReader.
func (c *doraClient) ReadSize(ctx context.Context, token, user, key string) (int, error) {
	v, err := c.read(ctx, token, user, key)
	return len(v), err
}

func (c *doraClient) read(ctx context.Context, token, user, key string) ([]byte, error) {
	if c.closed.Load() {
		return nil, errClosed
	}
	rsp, err := c.store.ReadSecureMessage(ctx, &kvpb.ReadSecureMessageReq{Key: []byte(key)}, c.session(token, user))
	if err != nil {
		return nil, rpcError(err)
	}
	if err := appError(rsp.GetStatus()); err != nil {
		return nil, err
	}
	return rsp.GetValue(), nil
}

func (c *doraClient) Write(ctx context.Context, token, user, key, value string) error {
	if c.closed.Load() {
		return errClosed
	}
	_, err := c.store.WriteSecureMessage(ctx, &kvpb.WriteSecureMessageReq{Key: []byte(key), Value: []byte(value)}, c.session(token, user))
	if err != nil {
		return rpcError(err)
	}
	return nil
}

// Close closes the dora client once: calls in flight fail with CodeUnavailable, and so do
// later ones.
func (c *doraClient) Close() error {
	c.once.Do(func() {
		c.closed.Store(true)
		c.err = c.conn.Close()
	})
	return c.err
}

// session returns the call option of (token, user) from the cache, adding it when there
// is room.
func (c *doraClient) session(token, user string) dora.CallOption {
	k := sessionKey{token, user}
	c.sessMu.RLock()
	opt, ok := c.sessions[k]
	c.sessMu.RUnlock()
	if ok {
		return opt
	}
	opt = session(token, user)
	c.sessMu.Lock()
	if c.sessions == nil {
		c.sessions = make(map[sessionKey]dora.CallOption)
	}
	if len(c.sessions) < maxSessionOpts {
		c.sessions[k] = opt
	}
	c.sessMu.Unlock()
	return opt
}

// session is the call option carrying the session metadata: token and username, each only
// when non-empty (no token means no session, which the server refuses). dora only reads
// the metadata, so one option serves every call of the session.
func session(token, user string) dora.CallOption {
	md := make(metadata.MD, 2)
	if token != "" {
		md[mdToken] = []string{token}
	}
	if user != "" {
		md[mdUsername] = []string{user}
	}
	return dora.WithMetadata(md)
}

// appError is the *Error of a non-OK kv.Status, nil for OK or no status.
func appError(s *kvpb.Status) error {
	if s.GetCode() == kvpb.CODE_OK {
		return nil
	}
	code := Code(s.GetCode())
	msg := s.GetMessage()
	if msg == "" {
		switch code {
		case CodeIncorrectUsernameOrPassword:
			msg = "incorrect username or password"
		case CodeKeyNotExist:
			msg = "key does not exist"
		}
	}
	return &Error{Code: code, Message: msg}
}

// rpcError turns a dora call error into an *Error with the status code and message; calls
// caught by Close (dora's Canceled wrapping ErrClientClosed) are CodeUnavailable.
func rpcError(err error) error {
	if errors.Is(err, dora.ErrClientClosed) {
		return errClosed
	}
	s := status.Convert(err)
	code := Code(status.Code(err))
	return &Error{Code: code, Message: s.Message()}
}
