package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
	"github.com/seed857a6cbd/pocket/benchmarks/kv"
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
		seen := make(map[[2]int]bool)
		addOnce := func(p, n int) {
			if !seen[[2]int{p, n}] {
				seen[[2]int{p, n}] = true
				add(modeUnary, p, n)
			}
		}
		for _, p := range cfg.payloads {
			for _, n := range cfg.concurrency {
				addOnce(p, n)
			}
		}
		for _, p := range cfg.largePayloads {
			for _, n := range cfg.largeConcurrency {
				addOnce(p, n)
			}
		}
		for _, p := range cfg.seqPayloads {
			addOnce(p, 1)
		}
	case suiteIIP:
		for _, n := range cfg.concurrency {
			add(modeUnary, cfg.iipPayload, n)
		}
	case suiteKV:
		base.kvUser = cfg.kv.user
		for _, op := range cfg.kv.ops {
			for _, n := range cfg.kv.concurrency {
				add(op, cfg.kv.value, n)
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
	switch suite {
	case suiteRPC:
		return cfg.frameworks
	case suiteIIP:
		return cfg.iipFrames
	case suiteKV:
		return cfg.kv.frameworks
	}
	return cfg.transports
}

// serverArgs are the extra arguments of a suite's server processes: the kv suite's store
// and seeding.
func (cfg config) serverArgs(suite string) []string {
	if suite != suiteKV {
		return nil
	}
	args := []string{"--kv-user", fmt.Sprint(cfg.kv.user), "--kv-etserver", cfg.kv.etserver}
	if cfg.kv.mysqlDSN != "" {
		args = append(args, "--kv-mysql-dsn", cfg.kv.mysqlDSN, "--kv-redis-addr", cfg.kv.redisAddr)
	}
	return args
}

// run executes every suite of cfg and writes one report per suite.
func run(cfg config, w io.Writer) error {
	dir, err := os.MkdirTemp("", "rpcbench-")
	if err != nil {
		return fmt.Errorf("rpcbench: %w", err)
	}
	defer os.RemoveAll(dir)
	names := cfg.runNames()
	bins, err := buildNodes(context.Background(), dir, names)
	if err != nil {
		return err
	}
	if len(names) > 0 {
		fmt.Fprintln(w, describeNodes(names, bins))
	}
	if slices.Contains(cfg.suites, suiteKV) {
		// The kv suite runs the etserver program as shipped, built once here.
		if cfg.kv.etserver, err = kv.Build(context.Background(), dir); err != nil {
			return err
		}
		fmt.Fprintf(w, "rpcbench: kv suite runs %s (built from %s), GOGC=%s unless set, ETSERVER_CALL_WORKERS=%s\n", cfg.kv.etserver, kv.EtserverPackage, kv.ServerGOGC, kv.ServerCallWorkers)
	}
	pin := findPinning()
	if pin.taskset != "" {
		fmt.Fprintf(w, "rpcbench: server pinned to CPU %s, client to CPU %s (taskset)\n", serverCPU, clientCPU)
	} else {
		fmt.Fprintf(w, "rpcbench: NOT pinning server and client to CPUs: %s\n", pin.reason)
	}
	model := cpuModel()
	fmt.Fprintf(w, "rpcbench: %s, %d CPUs (%s), warm-up %v, window %v\n", runtime.Version(), runtime.NumCPU(), model, cfg.warmup, cfg.duration)
	cc := congestionControl()
	fmt.Fprintf(w, "rpcbench: TCP congestion control %q (net.ipv4.tcp_congestion_control)\n", cc)
	for _, suite := range cfg.suites {
		rep := harness.Report{
			Date:       time.Now().UTC().Truncate(time.Second),
			Command:    commandLine(),
			GoVersion:  runtime.Version(),
			CPUs:       runtime.NumCPU(),
			CPUModel:   model,
			Pinned:     pin.taskset != "",
			Congestion: cc,
			Warmup:     cfg.warmup.String(),
			Duration:   cfg.duration.String(),
		}
		if suite == suiteKV {
			rep.Store = cfg.kv.store()
			fmt.Fprintf(w, "rpcbench: kv suite on the %s store, users 1..%d seeded by each server, the load logs in as the last %d\n", rep.Store, cfg.kv.user, kv.LoadUsers)
		}
		rep.Results = runSuite(cfg, pin, bins, suite, w)
		jsonPath, csvPath, err := harness.SaveReport(cfg.out, suite, rep)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "rpcbench: wrote %s and %s\n", jsonPath, csvPath)
	}
	return nil
}

// runSuite starts one server process per implementation, from its node binary in bins, then runs the matrix cell by
// cell with the implementations taking turns inside each cell (so a change of load on the
// machine hits them alike), cfg.count rounds; each row is the round with the median
// calls/s. A cell that fails is recorded with a note and the run goes on.
//
// Except in the kv suite (whose etserver seeds its users as it starts), every cell gets
// new server processes: a server that has just served 100 callers of 4 MiB keeps a heap of
// gigabytes that its collector and the kernel are still giving back while the next cell
// runs, which slowed the one-at-a-time cells measured after it by up to 2.5× (and unevenly
// between frameworks, BENCHMARKS.md). The cell's rounds share their servers.
func runSuite(cfg config, pin pinning, bins map[string]string, suite string, w io.Writer) []harness.Result {
	names := cfg.names(suite)
	servers := make(map[string]*serverProc, len(names))
	startErrs := make(map[string]error)
	start := func() {
		for _, name := range names {
			srv, err := startServer(pin, bins[name], suite, name, cfg.serverArgs(suite)...)
			if err != nil {
				fmt.Fprintf(w, "%s %s: %v\n", suite, name, err)
				startErrs[name] = err
				continue
			}
			servers[name] = srv
		}
	}
	stop := func() {
		for _, name := range names {
			if srv := servers[name]; srv != nil {
				if err := srv.stop(); err != nil {
					fmt.Fprintf(w, "%s %s: server stop: %v\n", suite, name, err)
				}
			}
		}
		clear(servers)
		clear(startErrs)
	}
	start()
	defer stop()
	var results []harness.Result
	for i, c := range cfg.cells(suite, "") {
		if i > 0 && suite != suiteKV {
			stop()
			start()
		}
		runs := make(map[string][]harness.Result, len(names))
		for round := 0; round < cfg.count; round++ {
			for _, name := range names {
				c := c
				c.framework = name
				r := harness.Result{Suite: suite, Mode: c.mode, Framework: name, Payload: c.payload, Concurrency: c.concurrency}
				if err := startErrs[name]; err != nil {
					r.Note = err.Error()
				} else if m, sd, err := runCell(pin, bins[name], servers[name], c); err != nil {
					r.Note = err.Error()
				} else {
					r.Fill(m, &sd)
				}
				printRow(w, r, "")
				runs[name] = append(runs[name], r)
			}
		}
		for _, name := range names {
			r := median(runs[name])
			if cfg.count > 1 {
				printRow(w, r, fmt.Sprintf("median of %d", r.Runs))
			}
			results = append(results, r)
		}
	}
	return results
}

// median returns the run with the median calls/s among those that did not fail (the
// lower one of the two middle runs for an even count), with Runs and the calls/s range
// set; when every run failed, the first failure.
func median(runs []harness.Result) harness.Result {
	var ok []harness.Result
	for _, r := range runs {
		if r.Note == "" {
			ok = append(ok, r)
		}
	}
	if len(ok) == 0 {
		return runs[0]
	}
	sort.Slice(ok, func(i, j int) bool { return ok[i].CallsPerSecond < ok[j].CallsPerSecond })
	m := ok[(len(ok)-1)/2]
	m.Runs = len(ok)
	m.CallsPerSecondMin = ok[0].CallsPerSecond
	m.CallsPerSecondMax = ok[len(ok)-1].CallsPerSecond
	return m
}

func printRow(w io.Writer, r harness.Result, tag string) {
	if r.Note != "" {
		fmt.Fprintf(w, "%-9s %-8s %-6s %6dB c=%-4d FAILED: %s\n", r.Suite, r.Framework, r.Mode, r.Payload, r.Concurrency, r.Note)
		return
	}
	if tag != "" {
		tag = "  (" + tag + ")"
	}
	fmt.Fprintf(w, "%-9s %-8s %-6s %6dB c=%-4d %10.0f calls/s %8.1f MB/s  p50 %8.1fµs p99 %8.1fµs p99.9 %8.1fµs  allocs/call c %.1f s %.1f  cpu c %.0f%% s %.0f%%%s\n",
		r.Suite, r.Framework, r.Mode, r.Payload, r.Concurrency, r.CallsPerSecond, r.MBPerSecond,
		r.P50Micros, r.P99Micros, r.P999Micros, r.ClientAllocsPerCall, r.ServerAllocsPerCall,
		r.ClientCPUPercent, r.ServerCPUPercent, tag)
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

// congestionControl is the system's TCP congestion control, "" when unknown.
func congestionControl() string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// commandLine is how rpcbench was invoked, with the program's base name.
func commandLine() string {
	args := append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...)
	return strings.Join(args, " ")
}
