package cli

import (
	"time"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/bench"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
)

// Flag names. Each is also the setting's key in the YAML config file, and the setting's
// environment variable is ETCLIENT_ followed by the name in upper case with '-' as '_'
// (ETCLIENT_VALUE_SIZE).
const (
	flagUser        = "user"
	flagPassword    = "password"
	flagKey         = "key"
	flagValue       = "value"
	flagServer      = "server"
	flagTimeout     = "timeout"
	flagTLS         = "tls"
	flagCA          = "ca"
	flagCert        = "cert"
	flagTLSKey      = "tls-key"
	flagConfig      = "config"
	flagOutput      = "output"
	flagConcurrency = "concurrency"
	flagRequests    = "requests"
	flagDuration    = "duration"
	flagRate        = "rate"
	flagWarmup      = "warmup"
	flagUsers       = "users"
	flagValueSize   = "value-size"
	flagMaxFailures = "max-failures"
	flagCPUProfile  = "cpuprofile"
	flagHist        = "hist"
	flagMaxConnFail = "max-conn-failures"
	flagOTel        = "otel-endpoint"
	flagLegacy      = "legacy"
)

// Defaults of the settings.
const (
	// DefaultUser is the default of -u/--user.
	DefaultUser = "1"
	// DefaultPassword is the default of -p/--password.
	DefaultPassword = "1"
	// DefaultKey is the default of -k/--key.
	DefaultKey = "a"
	// DefaultValue is the default of -v/--value.
	DefaultValue = "a"
	// DefaultTimeout is the default of --timeout, the bound of each request.
	DefaultTimeout = 5 * time.Second
	// DefaultOutput is the default of --output.
	DefaultOutput = OutputTable
	// DefaultConcurrency is the default of -c/--concurrency.
	DefaultConcurrency = 1
	// DefaultRequests is the default of -r/--requests.
	DefaultRequests = 1
	// DefaultUsers is the default of --users.
	DefaultUsers = 1
	// DefaultMaxFailures is the default of --max-failures.
	DefaultMaxFailures = 0
	// DefaultMaxConnFailures is the default of --max-conn-failures: a benchmark ends after
	// this many attempts in a row failed to reach the server (bench.DefaultMaxUnreachable;
	// with the back-off between them, about 2.6 s of the server being away).
	DefaultMaxConnFailures = bench.DefaultMaxUnreachable
)

// The values of --output.
const (
	OutputTable = "table"
	OutputJSON  = "json"
	OutputCSV   = "csv" // benchmarks only
)

// commonFlags are the flags of every command.
func commonFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagUser, Aliases: []string{"u"}, Value: DefaultUser, Usage: "user name (for benchmarks with --users, the first numeric id)"},
		&cli.StringFlag{Name: flagPassword, Aliases: []string{"p"}, Value: DefaultPassword, Usage: "password"},
		&cli.StringFlag{Name: flagKey, Aliases: []string{"k"}, Value: DefaultKey, Usage: "key to read or write (any non-empty string)"},
		&cli.StringFlag{Name: flagValue, Aliases: []string{"v"}, Value: DefaultValue, Usage: "value to write (any non-empty string)"},
		&cli.StringFlag{Name: flagServer, Value: kvclient.DefaultServer, Usage: "etserver `address`, or a list host:port#weight,... balanced by weight"},
		&cli.DurationFlag{Name: flagTimeout, Value: DefaultTimeout, Usage: "bound of each request (0: none)"},
		&cli.BoolFlag{Name: flagTLS, Usage: "connect with TLS"},
		&cli.StringFlag{Name: flagCA, Usage: "PEM file of the CA that signed the server's certificate (default: system roots)"},
		&cli.StringFlag{Name: flagCert, Usage: "PEM client certificate, for mutual TLS (with --tls-key)"},
		&cli.StringFlag{Name: flagTLSKey, Usage: "PEM private key of --cert"},
		&cli.StringFlag{Name: flagConfig, Usage: "YAML file of settings (keys are the long flag names); flags and ETCLIENT_* variables override it"},
		&cli.StringFlag{Name: flagOutput, Value: DefaultOutput, Usage: "output format: table or json (benchmarks also csv)"},
		&cli.BoolFlag{Name: flagLegacy, Usage: "speak the previous version's protocol (legacy frames, bare method names, one plain TCP connection) instead of dora, to exercise etserver's legacy path; one --server, no TLS"},
		&cli.StringFlag{Name: flagOTel, Usage: "export an OpenTelemetry span of every call to this OTLP/HTTP traces `URL` (e.g. http://127.0.0.1:4318/v1/traces); default: none"},
	}
}

// benchmarkFlags are the flags of `benchmark read` and `benchmark write`.
func benchmarkFlags() []cli.Flag {
	return append(commonFlags(),
		&cli.IntFlag{Name: flagConcurrency, Aliases: []string{"c"}, Value: DefaultConcurrency, Usage: "number of workers (open loop: most requests in flight)"},
		&cli.Int64Flag{Name: flagRequests, Aliases: []string{"r"}, Value: DefaultRequests, Usage: "requests per worker (ignored with --duration)"},
		&cli.DurationFlag{Name: flagDuration, Aliases: []string{"d"}, Usage: "run for this long instead of -r requests per worker"},
		&cli.Float64Flag{Name: flagRate, Usage: "open loop: send this many requests per second on schedule, latency measured from each intended send time (0: closed loop)"},
		&cli.DurationFlag{Name: flagWarmup, Usage: "run this long first and discard the measurements"},
		&cli.IntFlag{Name: flagUsers, Value: DefaultUsers, Usage: "number of distinct users -u, -u+1, …; each logs in before the clock starts"},
		&cli.IntFlag{Name: flagValueSize, Usage: "pad the value to this many bytes by repeating it (0: as given)"},
		&cli.Int64Flag{Name: flagMaxFailures, Value: DefaultMaxFailures, Usage: "exit non-zero when more requests than this fail"},
		&cli.StringFlag{Name: flagHist, Usage: "write the latency histogram to this `file` for HdrHistogram tools: a percentile distribution (.hgrm, ms), or an interval log if the name ends in .hlog"},
		&cli.IntFlag{Name: flagMaxConnFail, Value: DefaultMaxConnFailures, Usage: "end the run after this many attempts in a row fail to reach the server (backing off 25 ms doubling to 1 s between them; 0: never)"},
		&cli.StringFlag{Name: flagCPUProfile, Usage: "write a CPU profile of etclient over the measured run (warmup included) to this `file`, for go tool pprof"},
	)
}
