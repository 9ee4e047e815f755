package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/benchmarks/kv"
	"github.com/seed857a6cbd/pocket/benchmarks/rpc"
	"github.com/seed857a6cbd/pocket/benchmarks/transport"
)

// The suites.
const (
	suiteRPC       = "rpc"
	suiteTransport = "transport"
	// suiteIIP is the IIP suite: the rpc registry's iip entries against nethttp with
	// one payload (--iip-payload).
	suiteIIP = "iip"
	// suiteKV is the entry-task suite: the etserver program on a fresh store, called by
	// the kv registry's clients.
	suiteKV   = "kv"
	modeUnary = "unary"
)

// iipPrefix names the rpc entries of the IIP suite; the RPC suite leaves them out
// unless --frameworks names them.
const iipPrefix = "iip"

// The full matrix (the default) and the --short preset (make bench, under 10 minutes).
var (
	defaultPayloads    = []int{64, 1024, 16384}
	defaultConcurrency = []int{1, 16, 100, 1000}
	shortPayloads      = []int{1024}
	// defaultLargePayloads and defaultLargeConcurrency are the large-message rows of issue
	// #17 (64 KiB to 4 MiB at 1, 16 and 100 callers), after the matrix above; --short
	// leaves them out.
	defaultLargePayloads    = []int{64 << 10, 256 << 10, 1 << 20, 4 << 20}
	defaultLargeConcurrency = []int{1, 16, 100}
	// defaultSeqPayloads are the one-connection sequential rows of issue #17: one caller,
	// one call at a time (nop, 1 KiB, 128 KiB); --short leaves them out.
	defaultSeqPayloads = []int{0, 1024, 128 << 10}
	// defaultIIPFrameworks are the IIP suite's entries: pocket's three clients and
	// its peer.
	defaultIIPFrameworks = []string{"iip", "iip-pool", "iip-balanced", "nethttp"}
	// defaultKVConcurrency are the entry task's 12 and 100 callers, and one.
	defaultKVConcurrency = []int{1, 12, 100}
	// shortKVConcurrency are the entry task's own points, for --short.
	shortKVConcurrency = []int{12, 100}
	// defaultKVFrameworks are the kv registry's clients: etserver's (dora, as etclient).
	defaultKVFrameworks = []string{"etserver"}
	allSuites           = []string{suiteRPC, suiteTransport, suiteIIP, suiteKV}
)

const (
	defaultWarmup       = 2 * time.Second
	defaultDuration     = 10 * time.Second
	shortDuration       = 3 * time.Second
	defaultRRPayload    = 1024
	defaultSmallPayload = 64
	defaultOut          = "results"
	// defaultIIPPayload is the echo payload of the iip module's benchmarks, 14,410 bytes.
	defaultIIPPayload    = 14410
	cellTimeoutAllowance = 30 * time.Second
)

// The environment variables that select MySQL + Redis for the kv suite by default (the
// ones the repository's tests read; scripts/services.sh exports them).
const (
	envMySQLDSN  = "POCKET_TEST_MYSQL_DSN"
	envRedisAddr = "POCKET_TEST_REDIS_ADDR"
)

// config is one rpcbench run.
type config struct {
	suites      []string
	frameworks  []string // empty: every registered one but the iip entries
	iipFrames   []string // the IIP suite's entries
	iipPayload  int
	transports  []string // empty: every registered one
	modes       []string
	payloads    []int
	concurrency []int
	// largePayloads x largeConcurrency and seqPayloads x 1 are rows of the rpc suite
	// added after payloads x concurrency (a row already there is not repeated).
	largePayloads    []int
	largeConcurrency []int
	seqPayloads      []int
	rrPayload        int
	smallPayload     int
	warmup           time.Duration
	duration         time.Duration
	out              string
	short            bool
	count            int
	kv               kvConfig
}

// kvConfig is the kv suite's part of a run.
type kvConfig struct {
	frameworks  []string // the kv registry's entries
	ops         []string // kv.OpRead, kv.OpWrite
	concurrency []int
	value       int    // value size in bytes
	user        int    // users 1..user are seeded; the load logs in as user-3..user (kv.LoadUsers)
	mysqlDSN    string // with redisAddr: MySQL + Redis; both empty: the embedded store
	redisAddr   string
	etserver    string // the etserver binary, built by run (kv.Build)
}

// store names the store the kv servers run on.
func (k kvConfig) store() string {
	if k.mysqlDSN != "" {
		return kv.ModeMySQLRedis
	}
	return kv.ModeEmbedded
}

func runFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "short", Usage: "preset for make bench: 1 KiB payloads, kv at 12 and 100 callers, 3 s windows (other flags still override)"},
		&cli.StringFlag{Name: "suites", Value: strings.Join(allSuites, ","), Usage: "suites to run: " + strings.Join(allSuites, ", ")},
		&cli.StringFlag{Name: "frameworks", Usage: "rpc frameworks of the rpc suite (default: all registered but the iip entries: " + strings.Join(rpcSuiteNames(), ",") + ")"},
		&cli.StringFlag{Name: "iip-frameworks", Value: strings.Join(defaultIIPFrameworks, ","), Usage: "rpc frameworks of the iip suite"},
		&cli.IntFlag{Name: "iip-payload", Value: defaultIIPPayload, Usage: "payload of the iip suite in bytes"},
		&cli.StringFlag{Name: "transports", Usage: "transports to run (default: all registered: " + strings.Join(transport.Names(), ",") + ")"},
		&cli.StringFlag{Name: "modes", Value: strings.Join(transport.Modes, ","), Usage: "transport modes: rr, bulk, mixed"},
		&cli.StringFlag{Name: "payloads", Usage: "rpc payload sizes in bytes (default 64,1024,16384; --short 1024)"},
		&cli.StringFlag{Name: "concurrency", Usage: "concurrent callers / streams (default 1,16,100,1000)"},
		&cli.StringFlag{Name: "large-payloads", Usage: "rpc suite: large payloads run at --large-concurrency, \"none\" for none (default 65536,262144,1048576,4194304; --short none)"},
		&cli.StringFlag{Name: "large-concurrency", Value: joinInts(defaultLargeConcurrency), Usage: "rpc suite: callers of the large-payload rows"},
		&cli.StringFlag{Name: "seq-payloads", Usage: "rpc suite: payloads of the one-caller sequential rows, \"none\" for none (default 0,1024,131072; --short none)"},
		&cli.IntFlag{Name: "rr-payload", Value: defaultRRPayload, Usage: "transport request/response payload in bytes"},
		&cli.IntFlag{Name: "small-payload", Value: defaultSmallPayload, Usage: "payload of the small calls of the transport mixed mode"},
		&cli.DurationFlag{Name: "warmup", Value: defaultWarmup, Usage: "warm-up before each measured window"},
		&cli.DurationFlag{Name: "duration", Usage: "measured window of each cell (default 10s; --short 3s)"},
		&cli.IntFlag{Name: "count", Value: 1, Usage: "rounds per cell; each row keeps the round with the median calls/s"},
		&cli.StringFlag{Name: "out", Value: defaultOut, Usage: "directory of the CSV and JSON results"},
		&cli.StringFlag{Name: "kv-frameworks", Value: strings.Join(defaultKVFrameworks, ","), Usage: "servers of the kv (entry-task) suite (registered: " + strings.Join(kv.Names(), ",") + ")"},
		&cli.StringFlag{Name: "kv-ops", Value: strings.Join(kv.Ops, ","), Usage: "operations of the kv suite: read, write"},
		&cli.StringFlag{Name: "kv-concurrency", Value: joinInts(defaultKVConcurrency), Usage: "concurrent callers of the kv suite"},
		&cli.IntFlag{Name: "kv-value", Value: kv.DefaultValue, Usage: "value size of the kv suite in bytes"},
		&cli.IntFlag{Name: "kv-user", Value: kv.DefaultUser, Usage: "the kv servers seed users 1..N; the load logs in as N-3..N (33333: read quota 100000/s, write 33336/s)"},
		&cli.StringFlag{Name: "kv-mysql-dsn", EnvVars: []string{envMySQLDSN}, Usage: "kv suite on MySQL (a fresh database next to the DSN's) + Redis; with --kv-redis-addr"},
		&cli.StringFlag{Name: "kv-redis-addr", EnvVars: []string{envRedisAddr}, Usage: "Redis host:port of the kv suite; with --kv-mysql-dsn"},
	}
}

func configFrom(c *cli.Context) (config, error) {
	cfg := config{
		short:         c.Bool("short"),
		suites:        splitList(c.String("suites")),
		frameworks:    splitList(c.String("frameworks")),
		iipFrames:     splitList(c.String("iip-frameworks")),
		iipPayload:    c.Int("iip-payload"),
		transports:    splitList(c.String("transports")),
		modes:         splitList(c.String("modes")),
		rrPayload:     c.Int("rr-payload"),
		smallPayload:  c.Int("small-payload"),
		warmup:        c.Duration("warmup"),
		out:           c.String("out"),
		count:         c.Int("count"),
		payloads:      defaultPayloads,
		concurrency:   defaultConcurrency,
		largePayloads: defaultLargePayloads,
		seqPayloads:   defaultSeqPayloads,
		duration:      defaultDuration,
		kv: kvConfig{
			frameworks: splitList(c.String("kv-frameworks")),
			ops:        splitList(c.String("kv-ops")),
			value:      c.Int("kv-value"),
			user:       c.Int("kv-user"),
			mysqlDSN:   c.String("kv-mysql-dsn"),
			redisAddr:  c.String("kv-redis-addr"),
		},
	}
	if cfg.short {
		cfg.payloads = shortPayloads
		cfg.duration = shortDuration
		cfg.largePayloads, cfg.seqPayloads = nil, nil
	}
	var err error
	for _, f := range []struct {
		name string
		dst  *[]int
	}{{"large-payloads", &cfg.largePayloads}, {"large-concurrency", &cfg.largeConcurrency}, {"seq-payloads", &cfg.seqPayloads}} {
		if !c.IsSet(f.name) && f.name != "large-concurrency" {
			continue
		}
		if v := c.String(f.name); v == "none" {
			*f.dst = nil
		} else if *f.dst, err = parseInts(v); err != nil {
			return config{}, fmt.Errorf("rpcbench: --%s: %w", f.name, err)
		}
	}
	if c.IsSet("payloads") {
		if cfg.payloads, err = parseInts(c.String("payloads")); err != nil {
			return config{}, fmt.Errorf("rpcbench: --payloads: %w", err)
		}
	}
	if c.IsSet("concurrency") {
		if cfg.concurrency, err = parseInts(c.String("concurrency")); err != nil {
			return config{}, fmt.Errorf("rpcbench: --concurrency: %w", err)
		}
	}
	if cfg.kv.concurrency, err = parseInts(c.String("kv-concurrency")); err != nil {
		return config{}, fmt.Errorf("rpcbench: --kv-concurrency: %w", err)
	}
	if cfg.short && !c.IsSet("kv-concurrency") {
		cfg.kv.concurrency = shortKVConcurrency
	}
	if c.IsSet("duration") {
		cfg.duration = c.Duration("duration")
	}
	if cfg.duration <= 0 {
		return config{}, fmt.Errorf("rpcbench: --duration %v is not positive", cfg.duration)
	}
	if cfg.count < 1 {
		return config{}, fmt.Errorf("rpcbench: --count %d is below 1", cfg.count)
	}
	if cfg.warmup < 0 {
		return config{}, fmt.Errorf("rpcbench: --warmup %v is negative", cfg.warmup)
	}
	for _, s := range cfg.suites {
		if !slices.Contains(allSuites, s) {
			return config{}, fmt.Errorf("rpcbench: unknown suite %q (have %s)", s, strings.Join(allSuites, ", "))
		}
	}
	if err := cfg.kv.validate(); err != nil {
		return config{}, err
	}
	if len(cfg.frameworks) == 0 {
		cfg.frameworks = rpcSuiteNames()
	}
	for _, f := range append(append([]string(nil), cfg.frameworks...), cfg.iipFrames...) {
		if _, err := rpc.Lookup(f); err != nil {
			return config{}, fmt.Errorf("rpcbench: %w", err)
		}
	}
	if len(cfg.transports) == 0 {
		cfg.transports = transport.Names()
	}
	for _, t := range cfg.transports {
		if _, err := transport.Lookup(t); err != nil {
			return config{}, fmt.Errorf("rpcbench: %w", err)
		}
	}
	for _, m := range cfg.modes {
		if m != transport.ModeRR && m != transport.ModeBulk && m != transport.ModeMixed {
			return config{}, fmt.Errorf("rpcbench: unknown mode %q (have %v)", m, transport.Modes)
		}
	}
	for _, p := range slices.Concat([]int{cfg.rrPayload, cfg.smallPayload, cfg.iipPayload}, cfg.payloads, cfg.largePayloads, cfg.seqPayloads) {
		if p < 0 || p > rpc.MaxPayload {
			return config{}, fmt.Errorf("rpcbench: payload %d is outside 0..%d", p, rpc.MaxPayload)
		}
	}
	for _, n := range slices.Concat(cfg.concurrency, cfg.kv.concurrency, cfg.largeConcurrency) {
		if n < 1 {
			return config{}, fmt.Errorf("rpcbench: concurrency %d is below 1", n)
		}
	}
	return cfg, nil
}

func (k kvConfig) validate() error {
	for _, f := range k.frameworks {
		if _, err := kv.Lookup(f); err != nil {
			return fmt.Errorf("rpcbench: %w", err)
		}
	}
	for _, op := range k.ops {
		if !slices.Contains(kv.Ops, op) {
			return fmt.Errorf("rpcbench: unknown kv op %q (have %v)", op, kv.Ops)
		}
	}
	if k.value < 1 || k.value > rpc.MaxPayload {
		return fmt.Errorf("rpcbench: --kv-value %d is outside 1..%d", k.value, rpc.MaxPayload)
	}
	if k.user < 1 {
		return fmt.Errorf("rpcbench: --kv-user %d is below 1", k.user)
	}
	if (k.mysqlDSN == "") != (k.redisAddr == "") {
		return fmt.Errorf("rpcbench: --kv-mysql-dsn and --kv-redis-addr (%s, %s) go together: set both or neither", envMySQLDSN, envRedisAddr)
	}
	return nil
}

// rpcSuiteNames are the registered rpc frameworks but the IIP suite's entries.
func rpcSuiteNames() []string {
	var out []string
	for _, n := range rpc.Names() {
		if !strings.HasPrefix(n, iipPrefix) {
			out = append(out, n)
		}
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty list")
	}
	return out, nil
}
