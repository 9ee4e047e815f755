package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/config"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/wire"
)

// configFileFlag is --config, the YAML file (ETSERVER_CONFIG when not given).
func configFileFlag() cli.Flag {
	return &cli.StringFlag{Name: "config", Aliases: []string{"c"},
		Usage: "YAML configuration file (optional; default $" + config.ConfigEnv + ")"}
}

// keyFlag is the string flag of a configuration key, named config.FlagName(key).
func keyFlag(key, usage string) cli.Flag {
	return &cli.StringFlag{Name: config.FlagName(key), Usage: usage + " (key " + key + ")"}
}

// boolKeyFlag is the boolean flag of a configuration key.
func boolKeyFlag(key, usage string) cli.Flag {
	return &cli.BoolFlag{Name: config.FlagName(key), Usage: usage + " (key " + key + ")"}
}

// logFlags are the flags of log.level and log.format.
func logFlags() []cli.Flag {
	return []cli.Flag{
		keyFlag("log.level", "debug, info, warn or error; default info"),
		keyFlag("log.format", "text or json (every stderr line in that format); default text"),
	}
}

// storeFlags are the flags of every command that opens the store: the file, the store
// selection and the log.
func storeFlags() []cli.Flag {
	return append([]cli.Flag{
		configFileFlag(),
		keyFlag("data_dir", "embedded store directory, used when mysql.dsn and redis.addr are empty; default etserver-data"),
		keyFlag("mysql.dsn", "MySQL DSN of accounts and quotas"),
		keyFlag("mysql.replica_dsn", "read-only MySQL replica DSN for quota lookups (falls back to mysql.dsn while it is down)"),
		keyFlag("redis.addr", "Redis host:port of sessions and values (one node)"),
		keyFlag("redis.addrs", "comma-separated Redis Cluster nodes, or the sentinels with --redis-master-name"),
		keyFlag("redis.master_name", "Sentinel master name: redis.addrs are then the sentinels"),
	}, logFlags()...)
}

// serveFlags are storeFlags and the listeners, TLS and admin port switches of serve.
func serveFlags() []cli.Flag {
	return append(storeFlags(),
		keyFlag("listen", "RPC listen address; default 127.0.0.1:7000"),
		keyFlag("admin_listen", `admin HTTP address (/metrics, /healthz, /readyz); "" disables it; default 127.0.0.1:7001`),
		boolKeyFlag("admin.pprof", "serve /debug/pprof/ on the admin HTTP port; default false"),
		boolKeyFlag("reflection", "serve dora reflection on the RPC port (for doractl); default false"),
		keyFlag("tls.cert", "server certificate PEM file; TLS on the RPC port when set"),
		keyFlag("tls.key", "server private key PEM file (with --tls-cert)"),
		keyFlag("tls.client_ca", "CA PEM file that client certificates must chain to (mTLS)"),
		keyFlag("otel.endpoint", `OTLP/HTTP traces URL (e.g. http://127.0.0.1:4318/v1/traces); "" (default) exports no spans unless OTEL_EXPORTER_OTLP_ENDPOINT is set`),
		keyFlag("otel.service_name", "service.name of the spans; default etserver"),
		keyFlag("otel.sample_ratio", "fraction of new traces sampled, 0..1; default 1"),
		keyFlag("otel.metrics_endpoint", `OTLP/HTTP metrics URL (e.g. http://127.0.0.1:4318/v1/metrics) for dora/otel's RPC metrics; "" (default) exports none unless OTEL_EXPORTER_OTLP_ENDPOINT is set`),
	)
}

// loadConfig resolves the configuration of the command c: defaults < file (--config or
// ETSERVER_CONFIG) < ETSERVER_* environment < the flags of c that were set. Every key
// whose flag c has and the user set is taken, whatever the key: no per-key mapping.
func loadConfig(c *cli.Context) (config.Config, error) {
	flags := map[string]any{}
	for _, key := range config.Keys() {
		if name := config.FlagName(key); c.IsSet(name) {
			flags[key] = c.Value(name)
		}
	}
	return config.Load(config.Sources{File: c.String("config"), Env: true, Flags: flags})
}

// newLogger is wire.NewLogger on w with the drivers' lines routed to it, also used by main
// to report the command's failure; it logs, once, the ETSERVER_* variables the
// configuration ignored.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	log := wire.NewLogger(cfg, w)
	wire.RouteDriverLogs(log)
	commandLog.Store(log)
	if len(cfg.IgnoredEnv) > 0 {
		log.Debug("ignoring environment variables that name no configuration key", "vars", cfg.IgnoredEnv)
	}
	return log
}

// usageError is a command-line mistake (unknown command or flag, bad arguments): main
// prints it on one line with a hint and exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return usageError{msg: fmt.Sprintf(format, args...)}
}

// noArgs is the usage error of a command given arguments it does not take.
func noArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageErrorf("%s takes no arguments, got %q; run 'etserver %s --help' for its flags", c.Command.Name, c.Args().Slice(), c.Command.Name)
	}
	return nil
}

func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
