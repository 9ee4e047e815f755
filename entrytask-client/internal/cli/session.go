package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/dora"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
)

// The steps of a command sequence.
const (
	stepLogin = "login"
	stepRead  = "read"
	stepWrite = "write"
)

var stepUsage = map[string]string{
	stepLogin: "log in and print the session token",
	stepRead:  "read --key (without login in the same command there is no session, and the server refuses)",
	stepWrite: "write --value under --key (without login in the same command there is no session, and the server refuses)",
}

// parseSteps splits a comma-composed command ("login,write,read") into its steps.
func parseSteps(cmd string) ([]string, error) {
	steps := strings.Split(cmd, ",")
	for _, s := range steps {
		switch s {
		case stepLogin, stepRead, stepWrite:
		case "":
			return nil, usageErrorf("command %q has an empty step: join login, read and write with single commas", cmd)
		default:
			return nil, usageErrorf("command %q: %q cannot be composed; only login, read and write join with commas", cmd, s)
		}
	}
	return steps, nil
}

// sequenceCommand is the command that runs steps in order over one session.
func sequenceCommand(env Env, name string, steps []string, hidden bool) *cli.Command {
	usage := stepUsage[name]
	if usage == "" {
		usage = "run " + strings.Join(steps, ", then ") + " over one session, stopping at the first failure"
	}
	return &cli.Command{
		Name:         name,
		Usage:        usage,
		UsageText:    "etclient " + name + " [OPTIONS]",
		Hidden:       hidden,
		Flags:        commonFlags(),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf("%s: unexpected argument %q (see 'etclient %s --help')", name, c.Args().First(), name)
			}
			s, err := loadSettings(c)
			if err != nil {
				return err
			}
			if s.Output == OutputCSV {
				return usageErrorf("--output csv is for benchmarks; %s prints table or json", c.Command.Name)
			}
			return runSequence(c.Context, env, s, steps)
		},
	}
}

// stepResult is one line of a sequence's output.
type stepResult struct {
	Step  string `json:"step"`
	OK    bool   `json:"ok"`
	User  string `json:"user"`
	Token string `json:"token,omitempty"`
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
	Code  string `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
}

func (r stepResult) write(w io.Writer, output string) error {
	if output == OutputJSON {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	var err error
	switch {
	case !r.OK:
		_, err = fmt.Fprintf(w, "%-6s FAILED  %s: %s\n", r.Step, r.Code, r.Error)
	case r.Step == stepLogin:
		_, err = fmt.Fprintf(w, "%-6s ok  user=%q token=%s\n", r.Step, r.User, r.Token)
	default:
		_, err = fmt.Fprintf(w, "%-6s ok  user=%q key=%q value=%q\n", r.Step, r.User, r.Key, r.Value)
	}
	return err
}

// runSequence dials etserver and runs the steps with one session token, stopping at the
// first failure.
func runSequence(ctx context.Context, env Env, s settings, steps []string) error {
	client, flush, err := dial(ctx, env, s)
	if err != nil {
		return err
	}
	defer flush() // after Close: every call's span has ended
	defer client.Close()

	var token string
	for _, step := range steps {
		res := stepResult{Step: step, User: s.User, Key: s.Key}
		err := withTimeout(ctx, s.Timeout, func(ctx context.Context) error {
			var err error
			switch step {
			case stepLogin:
				res.Key = ""
				token, err = client.Login(ctx, s.User, s.Password)
				res.Token = token
			case stepRead:
				res.Value, err = client.Read(ctx, token, s.User, s.Key)
			case stepWrite:
				res.Value = s.Value
				err = client.Write(ctx, token, s.User, s.Key, s.Value)
			}
			return err
		})
		if err != nil {
			res = stepResult{Step: step, User: s.User, Code: kvclient.CodeOf(err).String(), Error: strings.TrimPrefix(err.Error(), "kvclient: ")}
			if s.Output == OutputJSON {
				_ = res.write(env.Stdout, s.Output)
			}
			return fmt.Errorf("%s failed: %s", step, res.Error)
		}
		res.OK = true
		if err := res.write(env.Stdout, s.Output); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
	}
	return nil
}

func withTimeout(ctx context.Context, d time.Duration, f func(context.Context) error) error {
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	return f(ctx)
}

// dial connects with the settings' servers, timeout and TLS, and with --otel-endpoint
// traces every call; flush exports the spans still buffered (call it after Close).
func dial(ctx context.Context, env Env, s settings) (client kvclient.Client, flush func(), err error) {
	tc, err := tlsConfig(s)
	if err != nil {
		return nil, nil, err
	}
	opts := kvclient.Options{Endpoints: s.endpoints, DialTimeout: s.Timeout, TLS: tc, Legacy: s.Legacy}
	flush = func() {}
	if s.OTel != "" {
		var stats dora.StatsHandler
		stats, flush, err = startTracing(ctx, s.OTel, env.Stderr)
		if err != nil {
			return nil, nil, err
		}
		opts.Stats = stats
	}
	client, err = env.Dial(ctx, opts)
	if err != nil {
		flush()
		return nil, nil, fmt.Errorf("connecting to %s: %w", s.Server, err)
	}
	return client, flush, nil
}
