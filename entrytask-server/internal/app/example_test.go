package app_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/ratelimit"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/sqlite"
)

// Example wires the use cases on the embedded store, seeds two users and runs the calls a
// dora handler makes: Login, Authenticate, CheckQuota, Write, Read.
func Example() {
	dir, _ := os.MkdirTemp("", "etserver-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	store, err := sqlite.Open(ctx, sqlite.Options{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	svc, err := app.New(app.Options{
		Accounts: store, Quotas: store, Sessions: store, KV: store,
		Limiter:        ratelimit.NewLocal(ratelimit.Options{}),
		PasswordParams: domain.FixturePasswordParams, // cheap, for the example only
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := app.Seed(ctx, store, app.SeedOptions{Users: 2, InsecureFastHashes: true}); err != nil {
		fmt.Println(err)
		return
	}

	_, err = svc.Login(ctx, "1", "wrong")
	fmt.Println("wrong password:", errors.Is(err, domain.ErrIncorrectCredentials))

	res, err := svc.Login(ctx, "1", "1")
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := svc.Authenticate(ctx, res.Token, "1") // metadata `token` and legacy `username`
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := svc.CheckQuota(ctx, p, domain.OpWrite); err != nil {
		fmt.Println(err)
		return
	}
	if err := svc.Write(ctx, p, "greeting", []byte("hello")); err != nil {
		fmt.Println(err)
		return
	}
	v, err := svc.Read(ctx, p, "greeting")
	fmt.Printf("read %q %v\n", v, err)
	_, err = svc.Authenticate(ctx, "", "")
	fmt.Println("empty token:", errors.Is(err, domain.ErrUnauthenticated))
	// Output:
	// wrong password: true
	// read "hello" <nil>
	// empty token: true
}
