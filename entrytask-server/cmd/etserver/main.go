// Command etserver is the per-user key/value service: `etserver serve | migrate | seed | user | certs | version`.
// See the module README for configuration keys and examples.
//
// Exit status: 0 on success, 1 when the command failed (bad configuration, a store that
// does not answer, …), 2 on a usage mistake (no or an unknown command, an unknown flag).
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"

	"github.com/urfave/cli/v2"
)

// Exit statuses of main.
const (
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	a := newApp()
	err := a.Run(os.Args)
	os.Exit(exitStatus(err, a.ErrWriter, commandLog.Load()))
}

// commandLog is the logger of the command that ran, once it has one (newLogger), so that
// its failure is reported in the log's format.
var commandLog atomic.Pointer[slog.Logger]

// exitStatus reports err (if any) and returns the process's exit status. A failure of a
// command that has its logger (log set) is one error record of that logger, so with
// log.format json it is JSON too; a usage mistake, or a failure before the configuration
// loaded, is one plain line "etserver: …" on w.
func exitStatus(err error, w io.Writer, log *slog.Logger) int {
	if err == nil {
		return 0
	}
	// urfave/cli's own errors (`etserver help bogus`: "No help topic") are usage mistakes too.
	usage := errors.As(err, new(usageError)) || errors.As(err, new(cli.ExitCoder))
	if log != nil && !usage {
		log.Error("etserver failed", "err", err.Error())
	} else {
		fmt.Fprintln(w, "etserver:", err)
	}
	if usage {
		return exitUsage
	}
	return exitFailed
}

func newApp() *cli.App {
	// --version only: -v stays free for subcommands.
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version, VCS revision and Go version"}
	cli.VersionPrinter = func(c *cli.Context) { fmt.Fprintln(c.App.Writer, versionLine()) }
	a := &cli.App{
		Name:    "etserver",
		Version: versionLine(),
		Usage:   "per-user key/value service with accounts, sessions and quotas",
		Description: "Configuration: defaults < YAML file (--config or $ETSERVER_CONFIG) < ETSERVER_* environment < flags.\n" +
			"With neither mysql.dsn nor redis.addr set, the embedded SQLite store in --data-dir is used.\n" +
			"Exit status: 0 success, 1 failure, 2 usage mistake.",
		Commands: []*cli.Command{serveCommand(), migrateCommand(), seedCommand(), userCommand(), certsCommand(), versionCommand()},
		// Bare `etserver`, or an unknown command: usage on stderr, exit 2.
		Action: func(c *cli.Context) error { return commandMissing(c, "etserver") },
		// main, not urfave/cli, chooses the exit status.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   onUsageError("etserver"),
	}
	a.ErrWriter = os.Stderr
	for _, cmd := range a.Commands {
		setUsageErrors(cmd, "etserver")
	}
	return a
}

// setUsageErrors makes flag mistakes of cmd and its subcommands usage errors, and gives a
// command with subcommands the unknown-command handling of the root.
func setUsageErrors(cmd *cli.Command, parent string) {
	path := parent + " " + cmd.Name
	cmd.OnUsageError = onUsageError(path)
	if len(cmd.Subcommands) > 0 && cmd.Action == nil {
		cmd.Action = func(c *cli.Context) error { return commandMissing(c, path) }
	}
	for _, sub := range cmd.Subcommands {
		setUsageErrors(sub, path)
	}
}

// commandMissing handles a command line that names no command of path, or an unknown
// one: a one-line error and a hint, or (no command at all) the help, on stderr.
func commandMissing(c *cli.Context, path string) error {
	if c.Args().Present() {
		return usageErrorf("unknown command %q; run '%s --help' for the commands", c.Args().First(), path)
	}
	w := c.App.Writer
	c.App.Writer = c.App.ErrWriter
	if c.Command != nil && !c.Command.Hidden && path != "etserver" {
		_ = cli.ShowSubcommandHelp(c)
	} else {
		_ = cli.ShowAppHelp(c)
	}
	c.App.Writer = w
	return usageErrorf("no command given; run '%s --help' for the commands", path)
}

// onUsageError turns urfave/cli's flag parse errors into one-line usage errors.
func onUsageError(path string) cli.OnUsageErrorFunc {
	cmd := strings.TrimPrefix(strings.TrimPrefix(path, "etserver"), " ")
	return func(_ *cli.Context, err error, _ bool) error {
		if cmd == "" {
			return usageErrorf("%v; run '%s --help' for the flags", err, path)
		}
		return usageErrorf("%s: %v; run '%s --help' for its flags", cmd, err, path)
	}
}
