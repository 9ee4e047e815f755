package main

import (
	"context"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/entrytask-server/infra/config"
)

// configFlags are the flags every command accepts; each maps to a configuration key.
func configFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "YAML configuration file (optional)"},
		&cli.StringFlag{Name: "listen", Usage: "RPC listen address (key listen; default 127.0.0.1:7000)"},
		&cli.StringFlag{Name: "admin-listen", Usage: "admin HTTP address (key admin_listen; default 127.0.0.1:7001)"},
		&cli.StringFlag{Name: "data-dir", Usage: "embedded store directory (key data_dir; default etserver-data)"},
		&cli.StringFlag{Name: "mysql-dsn", Usage: "MySQL DSN (key mysql.dsn)"},
		&cli.StringFlag{Name: "redis-addr", Usage: "Redis host:port (key redis.addr)"},
		&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error (key log.level)"},
	}
}

var flagKeys = map[string]string{
	"listen": "listen", "admin-listen": "admin_listen", "data-dir": "data_dir",
	"mysql-dsn": "mysql.dsn", "redis-addr": "redis.addr", "log-level": "log.level",
}

func loadConfig(c *cli.Context) (config.Config, error) {
	flags := map[string]any{}
	for name, key := range flagKeys {
		if c.IsSet(name) {
			flags[key] = c.String(name)
		}
	}
	return config.Load(config.Sources{File: c.String("config"), Env: os.Environ(), Flags: flags})
}

func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
