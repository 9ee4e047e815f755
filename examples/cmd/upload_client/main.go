// Command upload_client uploads a file to an upload_server with resume: it
// asks the server how much it already has, sends the rest, and has the
// server verify the SHA-256 and rename the file into place. Killed and run
// again, it continues where the server stopped. A progress bar is drawn on
// a terminal (stderr). See the examples README.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/examples/cliflags"
	"github.com/seed857a6cbd/pocket/examples/filetransfer"
	"github.com/seed857a6cbd/pocket/examples/progress"
)

func main() {
	app := &cli.App{
		HideHelpCommand: true,
		Name:            "upload_client",
		Usage:           "upload a file to upload_server, resuming an interrupted upload",
		ArgsUsage:       "FILE [NAME]",
		Description:     "NAME is the plain file name to store on the server; it defaults to FILE's base name.",
		Flags:           append(cliflags.TransferFlags("127.0.0.1:9094"), cliflags.ClientTLSFlags()...),
		Action:          run,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "upload_client:", err)
		os.Exit(1)
	}
}

func run(c *cli.Context) error {
	if c.NArg() < 1 || c.NArg() > 2 {
		return fmt.Errorf("usage: upload_client [flags] FILE [NAME]")
	}
	src := c.Args().Get(0)
	name := c.Args().Get(1)
	if name == "" {
		name = filepath.Base(src)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	opts, err := cliflags.TransferOptions(c, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	client, err := cliflags.Client(ctx, c, log)
	if err != nil {
		return err
	}
	defer client.Close()
	bar := &progress.Bar{}
	if !c.Bool("quiet") {
		bar = progress.New(os.Stderr, name)
	}
	opts.Progress = bar.Set
	res, err := filetransfer.Upload(ctx, client, src, name, opts)
	bar.Finish()
	if err != nil {
		return err
	}
	fmt.Printf("uploaded %s as %s: %d bytes (%d resumed, %d transferred), sha256 %s\n",
		src, name, res.Size, res.Resumed, res.Sent, res.SHA256)
	return nil
}
