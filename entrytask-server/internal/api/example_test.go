package api_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/metadata"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/api"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/ratelimit"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/sqlite"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

// ExampleNewServer serves kv.Store on an embedded store on loopback, then logs in, writes
// and reads with the generated client.
func ExampleNewServer() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "etserver-example")
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(ctx, sqlite.Options{Dir: dir, Synchronous: "NORMAL"})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	cheap := domain.PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1} // examples only
	hash, _ := domain.HashPassword("secret", cheap)
	store.CreateUser(ctx, "ann", hash)
	svc, err := app.New(app.Options{Accounts: store, Quotas: store, Sessions: store, KV: store,
		Limiter: ratelimit.NewLocal(ratelimit.Options{}), PasswordParams: cheap})
	if err != nil {
		panic(err)
	}
	srv, err := api.NewServer(api.Options{Service: svc})
	if err != nil {
		panic(err)
	}
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(lis)
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		srv.GracefulStop(sctx)
	}()

	c, _ := dora.NewClient(lis.Addr().String())
	defer c.Close()
	kv := kvpb.NewStoreClient(c)
	bad, _ := kv.Login(ctx, &kvpb.LoginReq{Username: "ann", Password: "wrong"})
	fmt.Println("wrong password:", bad.GetStatus().GetCode())
	lr, err := kv.Login(ctx, &kvpb.LoginReq{Username: "ann", Password: "secret"})
	if err != nil {
		panic(err)
	}
	ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs(api.MDToken, lr.GetToken()))
	if _, err := kv.WriteSecureMessage(ctx, &kvpb.WriteSecureMessageReq{Key: []byte("greeting"), Value: []byte("hello")}); err != nil {
		panic(err)
	}
	rr, _ := kv.ReadSecureMessage(ctx, &kvpb.ReadSecureMessageReq{Key: []byte("greeting")})
	fmt.Println("read:", string(rr.GetValue()))
	rr, _ = kv.ReadSecureMessage(ctx, &kvpb.ReadSecureMessageReq{Key: []byte("nothing")})
	fmt.Println("missing:", rr.GetStatus().GetCode())
	// Output:
	// wrong password: INCORRECT_USERNAME_OR_PASSWORD
	// read: hello
	// missing: KEY_NOT_EXIST
}
