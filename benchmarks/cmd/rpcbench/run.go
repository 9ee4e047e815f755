package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
	"github.com/seed857a6cbd/pocket/benchmarks/transport"
)

// cells lists the matrix of one suite for one implementation, in run order.
func (cfg config) cells(suite, name string) []cell {
	base := cell{suite: suite, framework: name, warmup: cfg.warmup, duration: cfg.duration}
	var out []cell
	add := func(mode string, payload, n int) {
		c := base
		c.mode, c.payload, c.concurrency = mode, payload, n
		out = append(out, c)
	}
	switch suite {
	case suiteRPC:
		for _, p := range cfg.payloads {
			for _, n := range cfg.concurrency {
				add(modeUnary, p, n)
			}
		}
	case suiteTransport:
		for _, m := range cfg.modes {
			switch m {
			case transport.ModeRR:
				for _, n := range cfg.concurrency {
					add(m, cfg.rrPayload, n)
				}
			case transport.ModeBulk:
				add(m, transport.BulkMessage, 1)
			case transport.ModeMixed:
				add(m, cfg.smallPayload, 1)
			}
		}
	}
	return out
}

func (cfg config) names(suite string) []string {
	if suite == suiteRPC {
		return cfg.frameworks
	}
	return cfg.transports
}

// run executes every suite of cfg and writes one report per suite.
func run(cfg config, w io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("rpcbench: %w", err)
	}
	pin := findPinning()
	if pin.taskset != "" {
		fmt.Fprintf(w, "rpcbench: server pinned to CPU %s, client to CPU %s (taskset)\n", serverCPU, clientCPU)
	} else {
		fmt.Fprintf(w, "rpcbench: NOT pinning server and client to CPUs: %s\n", pin.reason)
	}
	model := cpuModel()
	fmt.Fprintf(w, "rpcbench: %s, %d CPUs (%s), warm-up %v, window %v\n", runtime.Version(), runtime.NumCPU(), model, cfg.warmup, cfg.duration)
	for _, suite := range cfg.suites {
		rep := harness.Report{
			Date:      time.Now().UTC().Truncate(time.Second),
			Command:   commandLine(),
			GoVersion: runtime.Version(),
			CPUs:      runtime.NumCPU(),
			CPUModel:  model,
			Pinned:    pin.taskset != "",
			Warmup:    cfg.warmup.String(),
			Duration:  cfg.duration.String(),
		}
		for _, name := range cfg.names(suite) {
			rep.Results = append(rep.Results, runImplementation(cfg, pin, self, suite, name, w)...)
		}
		jsonPath, csvPath, err := harness.SaveReport(cfg.out, suite, rep)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "rpcbench: wrote %s and %s\n", jsonPath, csvPath)
	}
	return nil
}

// runImplementation starts one server process and runs every cell against it. A cell
// that fails is recorded with a note and the run goes on.
func runImplementation(cfg config, pin pinning, self, suite, name string, w io.Writer) []harness.Result {
	cells := cfg.cells(suite, name)
	results := make([]harness.Result, len(cells))
	for i, c := range cells {
		results[i] = harness.Result{Suite: suite, Mode: c.mode, Framework: name, Payload: c.payload, Concurrency: c.concurrency}
	}
	srv, err := startServer(pin, self, suite, name)
	if err != nil {
		fmt.Fprintf(w, "%s %s: %v\n", suite, name, err)
		for i := range results {
			results[i].Note = err.Error()
		}
		return results
	}
	for i, c := range cells {
		m, sd, err := runCell(pin, self, srv, c)
		r := &results[i]
		if err != nil {
			r.Note = err.Error()
			fmt.Fprintf(w, "%-9s %-7s %-6s %6dB c=%-4d FAILED: %v\n", suite, name, c.mode, c.payload, c.concurrency, err)
			continue
		}
		r.Fill(m, &sd)
		fmt.Fprintf(w, "%-9s %-7s %-6s %6dB c=%-4d %10.0f calls/s %8.1f MB/s  p50 %8.1fµs p99 %8.1fµs p99.9 %8.1fµs  allocs/call c %.1f s %.1f  cpu c %.0f%% s %.0f%%\n",
			suite, name, c.mode, c.payload, c.concurrency, r.CallsPerSecond, r.MBPerSecond,
			r.P50Micros, r.P99Micros, r.P999Micros, r.ClientAllocsPerCall, r.ServerAllocsPerCall,
			r.ClientCPUPercent, r.ServerCPUPercent)
	}
	if err := srv.stop(); err != nil {
		fmt.Fprintf(w, "%s %s: server stop: %v\n", suite, name, err)
	}
	return results
}

// cpuModel returns the first "model name" of /proc/cpuinfo, or "unknown".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// commandLine is how rpcbench was invoked, with the program's base name.
func commandLine() string {
	args := append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...)
	return strings.Join(args, " ")
}
