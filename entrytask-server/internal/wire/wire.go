// Package wire is how cmd/etserver assembles the service from a config.Config: it opens
// the stores the configuration selects (Open: the embedded SQLite store, or MySQL for
// accounts and quotas and Redis for sessions and values, migrated), builds the use cases
// on them (NewService, with the session-cache watch of WatchSessions and the value cache's
// of WatchValues), sizes the RPC server's request limit (MaxRecvMsgSize) and builds the
// logger (NewLogger). It sets no process-wide state: the garbage-collector settings are
// applied by cmd/etserver.
//
// `etserver serve` adds the RPC server (api.NewServer), TLS and the admin HTTP port; the
// package is internal to etserver (other programs run the etserver binary, as the
// benchmarks' kv suite does). The shortest complete use:
//
//	cfg, _ := config.Load(config.Sources{Env: true})
//	log := wire.NewLogger(cfg, os.Stderr)
//	wire.RouteDriverLogs(log)
//	b, err := wire.Open(ctx, cfg, log)
//	if err != nil { ... }
//	defer b.Close()
//	svc, err := wire.NewService(cfg, b)
//	if err != nil { ... }
//	defer wire.WatchSessions(cfg, svc)() // before b.Close
//	defer wire.WatchValues(cfg, b)()     // when the session watch does not cover values
//	srv, err := api.NewServer(api.Options{Service: svc, Logger: log},
//		dora.MaxRecvMsgSize(wire.MaxRecvMsgSize(svc.ValueMaxBytes())))
//
// The package sits above the layers it wires: it imports app, domain and infra/*, and
// nothing below it imports it.
package wire

import (
	"io"
	"log/slog"
	"strings"

	"github.com/seed857a6cbd/pocket/nap"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/config"
)

// NewLogger returns etserver's logger on w: log/slog's text handler, or its JSON handler
// when log.format is json, at level log.level (info when the level does not parse).
// Durations are written as Go duration strings ("took":"377µs") in both formats, never
// as bare nanoseconds. Pass the logger to RouteDriverLogs so that the Redis and MySQL
// drivers' own lines join the same stream.
func NewLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.Log.Level)))
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: durationString}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// durationString writes a time.Duration attribute as its String form, with its unit.
func durationString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// MaxRecvMsgSize is the request size the RPC server accepts: at least nap's default
// (nap.DefaultMaxMessageSize, 4 MiB), and room for twice the value limit plus the largest
// key, so an oversized value up to that size is answered with InvalidArgument naming the
// limit rather than a reset stream.
func MaxRecvMsgSize(valueMax int) int {
	return max(2*valueMax+64<<10, nap.DefaultMaxMessageSize)
}
