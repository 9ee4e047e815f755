package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/bench"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
)

const benchmarkDescription = `Closed loop (default): -c workers each send -r requests back to back, or run for -d.
Open loop (--rate N): N requests per second on schedule, at most -c in flight; latency is
measured from each request's intended send time, so server stalls are not hidden.
All users log in before the clock starts: one user (-u/-p), or --users N users -u, -u+1, …
(when -p equals -u, each user's password is its own name, as 'etserver seed' creates them).
Latency percentiles come from an HDR histogram of successful requests; QPS = successful
requests / wall time. Exits non-zero when more than --max-failures requests fail.`

func benchmarkCommand(env Env) *cli.Command {
	sub := func(method, usage string) *cli.Command {
		return &cli.Command{
			Name:         method,
			Usage:        usage,
			UsageText:    "etclient benchmark " + method + " [OPTIONS]",
			Description:  benchmarkDescription,
			Flags:        benchmarkFlags(),
			OnUsageError: onUsageError,
			Action: func(c *cli.Context) error {
				if c.NArg() > 0 {
					return usageErrorf("benchmark %s: unexpected argument %q (see 'etclient benchmark %s --help')", method, c.Args().First(), method)
				}
				s, err := loadSettings(c)
				if err != nil {
					return err
				}
				return runBenchmark(c.Context, env, s, method)
			},
		}
	}
	return &cli.Command{
		Name:         "benchmark",
		Usage:        "load-test etserver with reads or writes and report QPS and latency percentiles",
		UsageText:    "etclient benchmark read|write [OPTIONS]",
		Description:  benchmarkDescription,
		OnUsageError: onUsageError,
		Subcommands: []*cli.Command{
			sub(bench.MethodRead, "benchmark reads of --key"),
			sub(bench.MethodWrite, "benchmark writes of --value under --key"),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				_ = cli.ShowSubcommandHelp(c)
				return usageErrorf("benchmark needs read or write")
			}
			return usageErrorf("benchmark %q: want read or write (see 'etclient benchmark --help')", c.Args().First())
		},
	}
}

// padValue repeats v to exactly size bytes; size 0 returns v.
func padValue(v string, size int) string {
	if size <= len(v) {
		return v
	}
	return strings.Repeat(v, size/len(v)+1)[:size]
}

// runBenchmark logs the users in, runs the measured loop, prints the report and fails when
// the run was interrupted or had more failures than --max-failures.
func runBenchmark(ctx context.Context, env Env, s settings, method string) error {
	users, err := bench.SeededUsers(s.User, s.Password, s.Users)
	if err != nil {
		return usageErrorf("--users %d: %v", s.Users, err)
	}
	client, flush, err := dial(ctx, env, s)
	if err != nil {
		return err
	}
	defer flush() // after Close: every call's span has ended
	defer client.Close()

	wl := &bench.Workload{
		Client:  client,
		Method:  method,
		Users:   users,
		Key:     s.Key,
		Value:   padValue(s.Value, s.ValueSize),
		Timeout: s.Timeout,
	}
	var loginBar *progressbar.ProgressBar
	if env.IsTerminal() && len(users) > 1 {
		loginBar = newBar(env, int64(len(users)), fmt.Sprintf("logging in %d users", len(users)))
		wl.LoggedIn = func() { _ = loginBar.Add(1) }
	}
	err = wl.Login(ctx, s.Concurrency)
	if loginBar != nil {
		_ = loginBar.Exit()
		fmt.Fprintln(env.Stderr)
	}
	if err != nil {
		return fmt.Errorf("benchmark %s: %w", method, err)
	}

	opts := bench.Options{
		Concurrency:    s.Concurrency,
		Requests:       s.Requests,
		Duration:       s.Duration,
		Rate:           s.Rate,
		Warmup:         s.Warmup,
		Classify:       bench.ClassifyStatus,
		Clock:          env.Clock,
		Unreachable:    unreachable,
		MaxUnreachable: s.MaxConnFail,
	}
	var bar *progress
	opts.OnUnreachable = func(failed int, err error) {
		lead := ""
		if bar != nil {
			lead = "\n" // below the progress bar's line, not appended to it
		}
		fmt.Fprintf(env.Stderr, "%setclient: server unreachable (failed attempts in a row: %d), backing off: %v\n", lead, failed, err)
	}
	if s.MaxConnFail == 0 {
		opts.MaxUnreachable = -1 // never end early
	}
	if env.IsTerminal() {
		bar = newProgress(env, s, method)
		opts.Progress = bar.update
	}
	stopProfile, err := startCPUProfile(s.CPUProfile)
	if err != nil {
		return fmt.Errorf("benchmark %s: %w", method, err)
	}
	res, err := bench.Run(ctx, opts, wl.Op)
	if perr := stopProfile(); perr != nil {
		return fmt.Errorf("benchmark %s: %w", method, perr)
	}
	if err != nil {
		return usageErrorf("benchmark %s: %v", method, err)
	}
	if bar != nil {
		bar.finish(ctx.Err() == nil && res.Stopped == nil)
		fmt.Fprintln(env.Stderr)
	}

	report := bench.NewReport(bench.Params{
		Concurrency: s.Concurrency,
		Requests:    s.Requests,
		Timed:       s.Duration > 0,
		Rate:        s.Rate,
		Users:       len(users),
		ValueSize:   s.ValueSize,
		ValueBytes:  len(wl.Value),
		Username:    s.User,
		Method:      method,
		Key:         s.Key,
		Value:       s.Value,
	}, res)
	if err := writeReport(env, s, report); err != nil {
		return fmt.Errorf("benchmark %s: %w", method, err)
	}
	if s.Hist != "" {
		if err := writeHist(s.Hist, res); err != nil {
			return fmt.Errorf("benchmark %s: %w", method, err)
		}
	}

	if res.Stopped != nil {
		return fmt.Errorf("benchmark %s stopped early (--max-conn-failures %d): %w", method, s.MaxConnFail, res.Stopped)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("benchmark %s interrupted: %w", method, err)
	}
	if report.Failure > s.MaxFailures {
		return fmt.Errorf("benchmark %s: %d failed requests exceed --max-failures %d", method, report.Failure, s.MaxFailures)
	}
	return nil
}

// unreachable is the benchmark's bench.Options.Unreachable: a request that failed with
// UNAVAILABLE did not reach the server (refused or lost connection, no instance of a list
// up).
func unreachable(err error) bool { return kvclient.CodeOf(err) == kvclient.Code(codes.Unavailable) }

// writeReport prints the report in the --output format.
func writeReport(env Env, s settings, report bench.Report) error {
	var err error
	switch s.Output {
	case OutputJSON:
		var b []byte
		if b, err = json.MarshalIndent(report, "", "  "); err != nil {
			return fmt.Errorf("encoding the report: %w", err)
		}
		_, err = fmt.Fprintf(env.Stdout, "%s\n", b)
	case OutputCSV:
		err = report.WriteCSV(env.Stdout)
	default:
		err = report.WriteTable(env.Stdout)
	}
	if err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	return nil
}

// writeHist writes the latency histogram to path (--hist).
func writeHist(path string, res *bench.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--hist: %w", err)
	}
	if err := bench.WriteHistogram(f, path, res); err != nil {
		f.Close()
		return fmt.Errorf("--hist %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--hist: %w", err)
	}
	return nil
}

// startCPUProfile starts writing a CPU profile to path ("" : none); stop ends it and closes
// the file.
func startCPUProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile %s: %w", path, err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		return nil
	}, nil
}

// newBar is a progress bar on env.Stderr towards total (-1: a counter) that starts no
// goroutine of its own.
func newBar(env Env, total int64, description string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(env.Stderr),
		progressbar.OptionSetDescription(description),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("op"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetSpinnerChangeInterval(0), // no goroutine of its own: the engine drives it
		progressbar.OptionSetWidth(30),
	)
}
