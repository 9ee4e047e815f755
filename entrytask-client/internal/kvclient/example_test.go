package kvclient_test

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
	"github.com/seed857a6cbd/pocket/lbclient"
)

// ExampleDial connects to a kv.Store server on loopback (here a scripted stand-in; etclient
// dials etserver the same way), logs in, reads, and shows a refusal's code.
func ExampleDial() {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := dora.NewServer()
	kvpb.RegisterStoreServer(srv, &scripted{})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	defer func() { srv.Stop(); <-done }()

	ctx := context.Background()
	c, err := kvclient.Dial(ctx, kvclient.Options{Endpoints: []lbclient.Endpoint{{Addr: lis.Addr().String(), Weight: 1}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	token, err := c.Login(ctx, "ann", "secret")
	fmt.Println(token, err)
	value, err := c.Read(ctx, token, "ann", "k")
	fmt.Println(value, err)

	_ = c.Close()
	_, err = c.Read(ctx, token, "ann", "k")
	fmt.Println(errors.Is(err, kvclient.ErrUnavailable), kvclient.CodeOf(err))
	// Output:
	// tok-ann <nil>
	// v-k <nil>
	// true UNAVAILABLE
}
