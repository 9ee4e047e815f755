package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
	"github.com/seed857a6cbd/pocket/benchmarks/kv"
	"github.com/seed857a6cbd/pocket/benchmarks/rpc"
	"github.com/seed857a6cbd/pocket/benchmarks/transport"
)

// The line protocol of the client process on its stdout: "phase start" and "phase end" at
// the window's boundaries, then "result {json harness.Measurement}".
const (
	linePhase  = "phase "
	lineResult = "result "
)

// cell is one point of the matrix, run by one client process.
type cell struct {
	suite       string
	framework   string
	mode        string
	payload     int
	concurrency int
	warmup      time.Duration
	duration    time.Duration
	kvUser      int // kv suite: the seeded user the load logs in as
}

func (c cell) args(addr string) []string {
	return []string{
		"client",
		"--suite", c.suite, "--framework", c.framework, "--addr", addr, "--mode", c.mode,
		"--payload", fmt.Sprint(c.payload), "--concurrency", fmt.Sprint(c.concurrency),
		"--warmup", c.warmup.String(), "--duration", c.duration.String(),
		"--kv-user", fmt.Sprint(c.kvUser),
	}
}

func clientCommand() *cli.Command {
	return &cli.Command{
		Name:   "client",
		Usage:  "(internal) run one cell of the matrix against a server and report the measurement",
		Hidden: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "suite", Required: true},
			&cli.StringFlag{Name: "framework", Required: true},
			&cli.StringFlag{Name: "addr", Required: true},
			&cli.StringFlag{Name: "mode", Required: true},
			&cli.IntFlag{Name: "payload", Required: true},
			&cli.IntFlag{Name: "concurrency", Required: true},
			&cli.DurationFlag{Name: "warmup", Value: defaultWarmup},
			&cli.DurationFlag{Name: "duration", Value: defaultDuration},
			&cli.IntFlag{Name: "kv-user", Value: kv.DefaultUser},
		},
		Action: func(c *cli.Context) error {
			return runClient(cell{
				suite:       c.String("suite"),
				framework:   c.String("framework"),
				mode:        c.String("mode"),
				payload:     c.Int("payload"),
				concurrency: c.Int("concurrency"),
				warmup:      c.Duration("warmup"),
				duration:    c.Duration("duration"),
				kvUser:      c.Int("kv-user"),
			}, c.String("addr"), c.App.Writer)
		},
	}
}

// runClient connects to addr, runs the cell and prints the protocol lines on out.
func runClient(c cell, addr string, out io.Writer) (err error) {
	load := harness.Load{
		Concurrency: c.concurrency,
		Warmup:      c.warmup,
		Duration:    c.duration,
		OnPhase: func(p harness.Phase) error {
			_, err := fmt.Fprintf(out, "%s%s\n", linePhase, p)
			return err
		},
	}
	var stop func() error
	switch c.suite {
	case suiteRPC, suiteIIP:
		f, err := rpc.Lookup(c.framework)
		if err != nil {
			return err
		}
		cl, err := f.Dial(addr, rpc.DialOptions{Concurrency: c.concurrency})
		if err != nil {
			return err
		}
		load.NewWorker = rpc.NewWorker(cl, c.payload)
		stop = cl.Close
	case suiteTransport:
		t, err := transport.Lookup(c.framework)
		if err != nil {
			return err
		}
		sess, err := t.Dial(addr)
		if err != nil {
			return err
		}
		l, err := transport.NewLoad(sess, c.mode, c.payload)
		if err != nil {
			sess.Close()
			return err
		}
		load.NewWorker = l.NewWorker
		stop = func() error { return errors.Join(l.Stop(), sess.Close()) }
	case suiteKV:
		f, err := kv.Lookup(c.framework)
		if err != nil {
			return err
		}
		cl, err := f.Dial(addr)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), serverReplyTimeout)
		load.NewWorker, err = kv.Load{Op: c.mode, User: c.kvUser, Value: c.payload}.Prepare(ctx, cl)
		cancel()
		if err != nil {
			cl.Close()
			return err
		}
		stop = cl.Close
	default:
		return fmt.Errorf("rpcbench: unknown suite %q", c.suite)
	}
	m, err := harness.Run(load)
	if serr := stop(); err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s%s\n", lineResult, b)
	return err
}
