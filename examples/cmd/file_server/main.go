// Command file_server serves the regular files under --root over IIP for
// file_client: /file/stat (size and SHA-256) and /file/read (chunks). No
// name can leave the root. It prints "iip listening on HOST:PORT" and stops
// gracefully on SIGINT or SIGTERM. See the examples README.
package main

import (
	"fmt"
	"os"

	"github.com/seed857a6cbd/pocket/examples/cliflags"
	"github.com/seed857a6cbd/pocket/examples/filetransfer"
)

func main() {
	app := cliflags.RootServerApp("file_server", "serve the files under a directory for resumable download over IIP", "127.0.0.1:9093",
		"directory whose files are served (nothing outside it is)",
		func(root string) (cliflags.Handlers, error) { return filetransfer.NewFileServer(root) })
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "file_server:", err)
		os.Exit(1)
	}
}
