// Command echo_client reads lines from standard input, sends each to the
// IIP path /echo of an echo_server and prints each answer on its own line.
// See the examples README.
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/examples/cliflags"
	"github.com/seed857a6cbd/pocket/examples/echo"
	"github.com/seed857a6cbd/pocket/iip"
)

// maxLine bounds one input line: 1 MiB.
const maxLine = 1 << 20

func main() {
	app := &cli.App{
		HideHelpCommand: true,
		Name:            "echo_client",
		Usage:           "send stdin lines to an IIP echo server and print the answers",
		ArgsUsage:       " ",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:9090", Usage: "IIP server address"},
			&cli.StringFlag{Name: "path", Value: echo.Path, Usage: "IIP path to send each line to"},
			&cli.DurationFlag{Name: "timeout", Value: iip.DefaultDialTimeout, Usage: "timeout of the dial and of each call"},
		}, cliflags.ClientTLSFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected arguments %q", c.Args().Slice())
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return run(ctx, c, os.Stdin, os.Stdout)
		},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "echo_client:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c *cli.Context, in io.Reader, out io.Writer) error {
	tlsConfig, err := cliflags.ClientTLS(c)
	if err != nil {
		return err
	}
	timeout := c.Duration("timeout")
	dctx, cancel := context.WithTimeout(ctx, timeout)
	conn, err := iip.Dial(dctx, c.String("addr"), iip.WithTLS(tlsConfig), iip.WithDialTimeout(timeout), iip.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))))
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close()
	w := bufio.NewWriter(out)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		resp, err := conn.Do(cctx, c.String("path"), sc.Bytes())
		cancel()
		if err != nil {
			return err
		}
		w.Write(resp)
		w.WriteByte('\n')
		if err := w.Flush(); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read stdin: %w", err)
	}
	return nil
}
