// Command upload_server stores uploads from upload_client under --root:
// /upload/stat (what it has), /upload/write (the rest, at the right offset
// only) and /upload/commit (SHA-256 check, fsync, atomic rename). It
// prints "iip listening on HOST:PORT" and stops gracefully on SIGINT or
// SIGTERM. See the examples README.
package main

import (
	"fmt"
	"os"

	"github.com/seed857a6cbd/pocket/examples/cliflags"
	"github.com/seed857a6cbd/pocket/examples/filetransfer"
)

func main() {
	app := cliflags.RootServerApp("upload_server", "store resumable uploads over IIP in a directory", "127.0.0.1:9094",
		"directory where uploads are stored (NAME.part while incomplete)",
		func(root string) (cliflags.Handlers, error) { return filetransfer.NewUploadServer(root) })
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "upload_server:", err)
		os.Exit(1)
	}
}
