package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/wire"
)

func migrateCommand() *cli.Command {
	return &cli.Command{
		Name:  "migrate",
		Usage: "apply the embedded schema migrations (serve also applies them on start)",
		Flags: storeFlags(),
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			log := newLogger(cfg, c.App.ErrWriter)
			ctx, cancel := withTimeout(time.Minute)
			defer cancel()
			b, err := wire.Open(ctx, cfg, log) // opening applies the migrations
			if err != nil {
				return err
			}
			defer b.Close()
			fmt.Fprintf(c.App.Writer, "migrations applied (%s store)\n", b.Mode)
			return nil
		},
	}
}
