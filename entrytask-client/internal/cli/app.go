// Package cli is the etclient command line: the login, read and write commands, their
// comma-composed sequences (login,read) sharing one session, and the benchmark command.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/bench"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
)

// Exit statuses of Run.
const (
	ExitOK      = 0
	ExitFailure = 1 // a call failed, or a benchmark had more failures than --max-failures
	ExitUsage   = 2 // bad command line, flags or settings
)

// Env is what the command line runs against; tests replace its parts. The zero value of
// each field means its default.
type Env struct {
	// Stdout receives results; default os.Stdout.
	Stdout io.Writer
	// Stderr receives errors and the progress bar; default os.Stderr.
	Stderr io.Writer
	// Dial connects to etserver; default kvclient.Dial.
	Dial func(context.Context, kvclient.Options) (kvclient.Client, error)
	// Clock times benchmarks; default bench.RealClock.
	Clock bench.Clock
	// IsTerminal reports whether Stderr is a terminal (the progress bar shows only then);
	// default: Stderr is an *os.File for which x/term.IsTerminal holds.
	IsTerminal func() bool
}

func (e Env) withDefaults() Env {
	if e.Stdout == nil {
		e.Stdout = os.Stdout
	}
	if e.Stderr == nil {
		e.Stderr = os.Stderr
	}
	if e.Dial == nil {
		e.Dial = kvclient.Dial
	}
	if e.Clock == nil {
		e.Clock = bench.RealClock{}
	}
	if e.IsTerminal == nil {
		w := e.Stderr
		e.IsTerminal = func() bool {
			f, ok := w.(*os.File)
			return ok && term.IsTerminal(int(f.Fd()))
		}
	}
	return e
}

// usageError is a bad command line; Run exits with ExitUsage for it.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// Run runs the etclient command line args (args[0] is the program name) and returns the
// exit status. Errors are printed to env.Stderr as one line starting with "etclient: ".
func Run(ctx context.Context, args []string, env Env) int {
	env = env.withDefaults()
	err := run(ctx, args, env)
	if err == nil {
		return ExitOK
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "etclient: ") {
		msg = "etclient: " + msg
	}
	fmt.Fprintln(env.Stderr, strings.ReplaceAll(msg, "\n", " "))
	var u usageError
	if errors.As(err, &u) {
		return ExitUsage
	}
	return ExitFailure
}

func run(ctx context.Context, args []string, env Env) error {
	app := newApp(env)
	if len(args) > 1 && strings.Contains(args[1], ",") {
		steps, err := parseSteps(args[1])
		if err != nil {
			return err
		}
		app.Commands = append(app.Commands, sequenceCommand(env, args[1], steps, true))
	}
	return app.RunContext(ctx, args)
}

const appDescription = `Commands run in order when joined by commas and share one session:
   etclient login,read -u 100 -p 100 -k a
   etclient login,write,read -u 100 -p 100 -k b -v n
The sequence stops at the first failure. A plain read or write has no session, so the server
refuses it. Settings come from flags, else ETCLIENT_* environment variables (ETCLIENT_SERVER,
ETCLIENT_VALUE_SIZE, …), else the --config YAML file (keys are the long flag names), else the
defaults shown.`

func newApp(env Env) *cli.App {
	app := &cli.App{
		Name:           "etclient",
		Version:        Version(),
		Usage:          "log in to etserver, read and write keys, and benchmark it",
		UsageText:      "etclient COMMAND [OPTIONS]   (COMMAND: login | read | write | benchmark read|write, or login,read,… joined by commas)",
		Description:    appDescription,
		Writer:         env.Stdout,
		ErrWriter:      env.Stderr,
		OnUsageError:   onUsageError,
		ExitErrHandler: func(*cli.Context, error) {}, // Run reports errors and picks the status
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				_ = cli.ShowAppHelp(c)
				return usageErrorf("no command given")
			}
			return usageErrorf("unknown command %q: want login, read, write or benchmark, or commands joined by commas (login,read); see 'etclient --help'", c.Args().First())
		},
		Commands: []*cli.Command{
			sequenceCommand(env, stepLogin, []string{stepLogin}, false),
			sequenceCommand(env, stepRead, []string{stepRead}, false),
			sequenceCommand(env, stepWrite, []string{stepWrite}, false),
			benchmarkCommand(env),
		},
	}
	return app
}

// onUsageError turns urfave/cli's flag parsing errors into a usage error pointing at the
// command's help.
func onUsageError(c *cli.Context, err error, _ bool) error {
	return usageErrorf("%v (see '%s --help')", err, commandPath(c))
}

// commandPath is the command line that selects c's command: "etclient benchmark read".
func commandPath(c *cli.Context) string {
	var names []string
	for _, p := range c.Lineage() {
		if p.Command != nil && p.Command.Name != "" {
			names = append(names, p.Command.Name)
		}
	}
	path := "etclient"
	for i := len(names) - 1; i >= 0; i-- {
		if names[i] != path {
			path += " " + names[i]
		}
	}
	return path
}
