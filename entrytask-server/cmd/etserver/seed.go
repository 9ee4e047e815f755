package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/wire"
)

func seedCommand() *cli.Command {
	return &cli.Command{
		Name:  "seed",
		Usage: "create benchmark users 1..N (password = username) with their quotas, hashed at the configured password.* cost",
		Flags: append(storeFlags(),
			&cli.IntFlag{Name: "users", Aliases: []string{"n"}, Usage: "number of users (required)"},
			&cli.IntFlag{Name: "batch", Value: app.DefaultSeedBatch, Usage: "users per multi-row insert"},
			&cli.IntFlag{Name: "workers", Value: 0, Usage: "hashing goroutines (0: all cores)"},
			&cli.BoolFlag{Name: "progress", Value: true, Usage: "show a progress bar with ETA when stderr is a terminal"},
			&cli.BoolFlag{Name: "insecure-fast-hashes", Usage: "INSECURE, for demos, benchmarks and tests only: hash with argon2id m=8KiB t=1 p=1 (~12,700 guesses/s per core) instead of the configured cost"},
		),
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			if !c.IsSet("users") {
				return usageErrorf("seed: --users is required; run 'etserver seed --help' for its flags")
			}
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			log := newLogger(cfg, c.App.ErrWriter)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			b, err := wire.Open(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer b.Close()
			n := c.Int("users")
			var bar *progressbar.ProgressBar
			if c.Bool("progress") && term.IsTerminal(int(os.Stderr.Fd())) {
				bar = progressbar.NewOptions(n, progressbar.OptionSetWriter(os.Stderr),
					progressbar.OptionSetDescription("seeding users"), progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true),
					progressbar.OptionShowIts(), progressbar.OptionSetItsString("users"), progressbar.OptionThrottle(100*time.Millisecond))
			}
			insecure := c.Bool("insecure-fast-hashes")
			p := wire.PasswordParams(cfg)
			if insecure {
				p = domain.FixturePasswordParams
				log.Warn("--insecure-fast-hashes: the passwords of these users are hashed at fixture cost (argon2id m=8KiB t=1): for demos, benchmarks and tests only")
			}
			start := time.Now()
			res, err := app.Seed(ctx, b.Accounts, app.SeedOptions{
				Users: n, BatchSize: c.Int("batch"), Workers: c.Int("workers"),
				PasswordParams: p, InsecureFastHashes: insecure,
				Progress: func(k int) {
					if bar != nil {
						bar.Add(k)
					}
				},
			})
			if bar != nil {
				bar.Finish()
				fmt.Fprintln(os.Stderr)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "seeded %d users (%d already existed) in %s on %d cores, %s store, argon2id m=%dKiB t=%d p=%d\n",
				res.Created, res.Skipped, time.Since(start).Round(time.Millisecond), runtime.GOMAXPROCS(0), b.Mode, p.MemoryKiB, p.Time, p.Threads)
			return nil
		},
	}
}
