//go:build !rpcbench_node || rpcbench_etserver

package kv

import (
	"context"
	"fmt"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"

	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

// etserverFramework is the client etclient uses: a dora.Client with its defaults and the
// generated kvpb.StoreClient.
type etserverFramework struct{}

func init() { Register(etserverFramework{}) }

func (etserverFramework) Name() string { return "etserver" }

type etserverClient struct {
	conn *dora.Client
	kv   kvpb.StoreClient
}

func (etserverFramework) Dial(addr string) (Client, error) {
	conn, err := dora.NewClient(addr)
	if err != nil {
		return nil, fmt.Errorf("kv: etserver: %w", err)
	}
	return &etserverClient{conn: conn, kv: kvpb.NewStoreClient(conn)}, nil
}

func (c *etserverClient) Login(ctx context.Context, username, password string) (string, error) {
	rsp, err := c.kv.Login(ctx, &kvpb.LoginReq{Username: username, Password: password})
	if err != nil {
		return "", doraErr(err)
	}
	if rsp.GetStatus().GetCode() == kvpb.CODE_INCORRECT_USERNAME_OR_PASSWORD {
		return "", ErrIncorrectCredentials
	}
	return rsp.GetToken(), nil
}

func (c *etserverClient) WithToken(ctx context.Context, token string) context.Context {
	return metadata.NewOutgoingContext(ctx, metadata.Pairs(kvpb.MDToken, token))
}

func (c *etserverClient) Read(ctx context.Context, key []byte) ([]byte, error) {
	rsp, err := c.kv.ReadSecureMessage(ctx, &kvpb.ReadSecureMessageReq{Key: key})
	if err != nil {
		return nil, doraErr(err)
	}
	if rsp.GetStatus().GetCode() == kvpb.CODE_KEY_NOT_EXIST {
		return nil, ErrKeyNotExist
	}
	return rsp.GetValue(), nil
}

func (c *etserverClient) Write(ctx context.Context, key, value []byte) error {
	if _, err := c.kv.WriteSecureMessage(ctx, &kvpb.WriteSecureMessageReq{Key: key, Value: value}); err != nil {
		return doraErr(err)
	}
	return nil
}

func (c *etserverClient) Close() error { return c.conn.Close() }

// doraErr wraps the errors of the codes the load tells apart.
func doraErr(err error) error {
	switch status.Code(err) {
	case codes.Unauthenticated:
		return fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	case codes.ResourceExhausted:
		return fmt.Errorf("%w: %w", ErrResourceExhausted, err)
	}
	return fmt.Errorf("kv: etserver: %w", err)
}
