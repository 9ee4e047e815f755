package kvclient

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

// errClosed is the error of calls made after Close.
var errClosed = &Error{Code: Code(codes.Unavailable), Message: "client closed"}

// doraClient is the Client over a dora connection (single-target or balanced) to etserver.
type doraClient struct {
	conn   *dora.Client
	store  kvpb.StoreClient
	closed atomic.Bool
	once   sync.Once
	err    error
}

var _ Client = (*doraClient)(nil)

func (c *doraClient) Login(ctx context.Context, user, pass string) (string, error) {
	if c.closed.Load() {
		return "", errClosed
	}
	rsp, err := c.store.Login(ctx, &kvpb.LoginReq{Username: user, Password: pass})
	if err != nil {
		return "", rpcError(err)
	}
	return loginToken(rsp)
}

// loginToken is the token of a Login answer, or the *Error of its status (Internal for an
// OK answer without a token).
func loginToken(rsp *kvpb.LoginRsp) (string, error) {
	if err := appError(rsp.GetStatus()); err != nil {
		return "", err
	}
	if rsp.GetToken() == "" {
		return "", Errorf(Code(codes.Internal), "login answered OK without a token")
	}
	return rsp.GetToken(), nil
}

func (c *doraClient) Read(ctx context.Context, token, user, key string) (string, error) {
	if c.closed.Load() {
		return "", errClosed
	}
	rsp, err := c.store.ReadSecureMessage(ctx, &kvpb.ReadSecureMessageReq{Key: []byte(key)}, session(token, user))
	if err != nil {
		return "", rpcError(err)
	}
	if err := appError(rsp.GetStatus()); err != nil {
		return "", err
	}
	return string(rsp.GetValue()), nil
}

func (c *doraClient) Write(ctx context.Context, token, user, key, value string) error {
	if c.closed.Load() {
		return errClosed
	}
	_, err := c.store.WriteSecureMessage(ctx, &kvpb.WriteSecureMessageReq{Key: []byte(key), Value: []byte(value)}, session(token, user))
	if err != nil {
		return rpcError(err)
	}
	return nil
}

// Close closes the dora client once: calls in flight fail with Code(codes.Unavailable), and so do
// later ones.
func (c *doraClient) Close() error {
	c.once.Do(func() {
		c.closed.Store(true)
		c.err = c.conn.Close()
	})
	return c.err
}

// session is the call option carrying the session metadata: token and username, each only
// when non-empty (no token means no session, which the server refuses). dora only reads
// the metadata.
func session(token, user string) dora.CallOption {
	md := make(metadata.MD, 2)
	if token != "" {
		md[kvpb.MDToken] = []string{token}
	}
	if user != "" {
		md[kvpb.MDUsername] = []string{user}
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
// caught by Close (dora's Canceled wrapping ErrClientClosed) are Code(codes.Unavailable).
func rpcError(err error) error {
	if errors.Is(err, dora.ErrClientClosed) {
		return errClosed
	}
	s := status.Convert(err)
	code := Code(status.Code(err))
	return &Error{Code: code, Message: s.Message()}
}
