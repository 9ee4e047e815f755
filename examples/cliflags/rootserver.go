package cliflags

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/examples/serving"
	"github.com/seed857a6cbd/pocket/iip"
)

// Handlers is a set of IIP handlers that holds resources, such as an open
// root directory: what file_server and upload_server serve.
type Handlers interface {
	Register(srv *iip.Server)
	Close() error
}

// RootServerApp builds the command line of an IIP server whose handlers work
// under a --root directory: flags --addr (default addr), --root (required,
// described by rootUsage), --grace, --memory-limit and the server TLS flags. Its action opens
// the handlers with open, serves them until SIGINT or SIGTERM, prints
// "iip listening on HOST:PORT" once bound, and drains for --grace on stop.
func RootServerApp(name, usage, addr, rootUsage string, open func(root string) (Handlers, error)) *cli.App {
	return &cli.App{
		HideHelpCommand: true,
		Name:            name,
		Usage:           usage,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "addr", Value: addr, Usage: "IIP listen address"},
			&cli.StringFlag{Name: "root", Required: true, Usage: rootUsage},
			&cli.DurationFlag{Name: "grace", Value: serving.DefaultGrace, Usage: "how long shutdown waits for in-flight requests"},
			MemoryLimitFlag(),
		}, ServerTLSFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected arguments %q", c.Args().Slice())
			}
			tlsConfig, err := ServerTLS(c)
			if err != nil {
				return err
			}
			h, err := open(c.String("root"))
			if err != nil {
				return err
			}
			defer h.Close()
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			if err := ApplyMemoryLimit(c, log); err != nil {
				return err
			}
			srv, err := iip.NewServer(iip.WithTLS(tlsConfig), iip.WithLogger(log))
			if err != nil {
				return err
			}
			h.Register(srv)
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serving.Run(ctx, os.Stdout, log, c.Duration("grace"), serving.Listener{Name: "iip", Addr: c.String("addr"), Server: srv})
		},
	}
}
