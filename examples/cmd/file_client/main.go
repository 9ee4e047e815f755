// Command file_client downloads a file from a file_server with resume: it
// writes DEST.part, continues from its size when run again after being
// interrupted, checks the server's SHA-256 and renames DEST.part to DEST.
// A progress bar is drawn on a terminal (stderr). See the examples README.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/examples/cliflags"
	"github.com/seed857a6cbd/pocket/examples/filetransfer"
	"github.com/seed857a6cbd/pocket/examples/progress"
)

func main() {
	app := &cli.App{
		HideHelpCommand: true,
		Name:            "file_client",
		Usage:           "download a file from file_server, resuming an interrupted download",
		ArgsUsage:       "NAME [DEST]",
		Description: "NAME is the file's path under the server's root (\"/\"-separated); " +
			"DEST defaults to NAME's last element in the current directory.",
		Flags:  append(cliflags.TransferFlags("127.0.0.1:9093"), cliflags.ClientTLSFlags()...),
		Action: run,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "file_client:", err)
		os.Exit(1)
	}
}

func run(c *cli.Context) error {
	if c.NArg() < 1 || c.NArg() > 2 {
		return fmt.Errorf("usage: file_client [flags] NAME [DEST]")
	}
	name := c.Args().Get(0)
	dest := c.Args().Get(1)
	if dest == "" {
		dest = path.Base(name)
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
	res, err := filetransfer.Download(ctx, client, name, dest, opts)
	bar.Finish()
	if err != nil {
		return err
	}
	fmt.Printf("downloaded %s to %s: %d bytes (%d resumed, %d transferred), sha256 %s\n",
		name, dest, res.Size, res.Resumed, res.Sent, res.SHA256)
	return nil
}
