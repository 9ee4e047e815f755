package wire_test

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/config"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/wire"
)

// ExampleOpen assembles etserver's use cases on the embedded store, as `etserver serve`
// does without MySQL and Redis, seeds a user and logs in as it.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "wire-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	cfg, err := config.Load(config.Sources{Flags: map[string]any{"data_dir": dir}})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	b, err := wire.Open(ctx, cfg, wire.NewLogger(cfg, io.Discard))
	if err != nil {
		panic(err)
	}
	defer b.Close()
	if _, err := app.Seed(ctx, b.Accounts, app.SeedOptions{Users: 1, InsecureFastHashes: true}); err != nil {
		panic(err)
	}
	svc, err := wire.NewService(cfg, b)
	if err != nil {
		panic(err)
	}
	defer wire.WatchSessions(cfg, svc)()
	res, err := svc.Login(ctx, "1", "1")
	fmt.Println(b.Mode, len(res.Token), err)
	// Output: embedded 32 <nil>
}
