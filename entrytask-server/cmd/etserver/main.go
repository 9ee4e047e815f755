// Command etserver is the per-user key/value service: `etserver serve | migrate | seed | user | certs | version`.
// See the module README for configuration keys and examples.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "etserver:", err)
		os.Exit(1)
	}
}

func newApp() *cli.App {
	// --version only: -v stays free for subcommands.
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version, VCS revision and Go version"}
	cli.VersionPrinter = func(c *cli.Context) { fmt.Fprintln(c.App.Writer, versionLine()) }
	return &cli.App{
		Name:    "etserver",
		Version: versionLine(),
		Usage:   "per-user key/value service with accounts, sessions and quotas",
		Description: "Configuration: defaults < YAML file (--config) < ETSERVER_* environment < flags.\n" +
			"With neither mysql.dsn nor redis.addr set, the embedded SQLite store in --data-dir is used.",
		Commands: []*cli.Command{serveCommand(), migrateCommand(), seedCommand(), userCommand(), certsCommand(), versionCommand()},
	}
}
