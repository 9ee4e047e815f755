// Command file_server serves the regular files under --root over IIP for
// file_client: /file/stat (size and SHA-256) and /file/read (chunks). No
// name can leave the root. It prints "iip listening on HOST:PORT" and stops
// gracefully on SIGINT or SIGTERM. See the examples README.
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
		Name:            "file_server",
		Usage:           "serve the files under a directory for resumable download over IIP",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:9093", Usage: "IIP listen address"},
			&cli.StringFlag{Name: "root", Required: true, Usage: "directory whose files are served (nothing outside it is)"},
			&cli.DurationFlag{Name: "grace", Value: serving.DefaultGrace, Usage: "how long shutdown waits for in-flight requests"},
		}, cliflags.ServerTLSFlags()...),
		Action: run,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "file_server:", err)
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
	fs, err := filetransfer.NewFileServer(c.String("root"))
	if err != nil {
		return err
	}
	defer fs.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	srv := iip.NewServer(&iip.ServerOptions{TLSConfig: tlsConfig, Logger: log})
	fs.Register(srv)
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serving.Run(ctx, os.Stdout, log, c.Duration("grace"), serving.Listener{Name: "iip", Addr: c.String("addr"), Server: srv})
}
