// Command upload_server stores uploads from upload_client under --root:
// /upload/stat (what it has), /upload/write (the rest, at the right offset
// only) and /upload/commit (SHA-256 check, fsync, atomic rename). It
// prints "iip listening on HOST:PORT" and stops gracefully on SIGINT or
// SIGTERM. See the examples README.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/examples/cliflags"
	"github.com/seed857a6cbd/pocket/examples/filetransfer"
	"github.com/seed857a6cbd/pocket/examples/serving"
	"github.com/seed857a6cbd/pocket/iip"
)

func main() {
	app := &cli.App{
		HideHelpCommand: true,
		Name:            "upload_server",
		Usage:           "store resumable uploads over IIP in a directory",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:9094", Usage: "IIP listen address"},
			&cli.StringFlag{Name: "root", Required: true, Usage: "directory where uploads are stored (NAME.part while incomplete)"},
			&cli.DurationFlag{Name: "grace", Value: serving.DefaultGrace, Usage: "how long shutdown waits for in-flight requests"},
		}, cliflags.ServerTLSFlags()...),
		Action: run,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "upload_server:", err)
		os.Exit(1)
	}
}

func run(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", c.Args().Slice())
	}
	tlsConfig, err := cliflags.ServerTLS(c)
	if err != nil {
		return err
	}
	us, err := filetransfer.NewUploadServer(c.String("root"))
	if err != nil {
		return err
	}
	defer us.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	srv := iip.NewServer(&iip.ServerOptions{TLSConfig: tlsConfig, Logger: log})
	us.Register(srv)
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serving.Run(ctx, os.Stdout, log, c.Duration("grace"), serving.Listener{Name: "iip", Addr: c.String("addr"), Server: srv})
}
