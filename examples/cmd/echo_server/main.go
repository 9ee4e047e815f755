// Command echo_server serves IIP echo on /echo and /echo_benchmark, a
// net/http echo on POST /echo_benchmark for comparison, and (when the
// httpadapter is available) HTTP in front of its IIP server. It prints
// "NAME listening on HOST:PORT" per listener and stops gracefully on SIGINT
// or SIGTERM. See the examples README.
package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/examples/cliflags"
	"github.com/seed857a6cbd/pocket/examples/echo"
	"github.com/seed857a6cbd/pocket/examples/serving"
	"github.com/seed857a6cbd/pocket/iip"
)

func main() {
	app := &cli.App{
		HideHelpCommand: true,
		Name:            "echo_server",
		Usage:           "IIP echo server, with a net/http echo for comparison",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "iip-addr", Value: "127.0.0.1:9090", Usage: "IIP listen address (/echo, /echo_benchmark)"},
			&cli.StringFlag{Name: "http-addr", Value: "127.0.0.1:9091", Usage: "net/http echo listen address (POST /echo_benchmark); empty disables"},
			&cli.StringFlag{Name: "adapter-addr", Value: "127.0.0.1:9092", Usage: "httpadapter listen address: HTTP requests become IIP calls to this server (POST /echo); empty disables"},
			&cli.StringFlag{Name: "dora-addr", Usage: "dora listen address: dora.examples.echo.Echo (Say, Count) and dora.health.v1.Health; empty (default) disables"},
			&cli.BoolFlag{Name: "reflection", Usage: "also serve dora.reflection.v1.Reflection on --dora-addr, for doractl list/describe/call (it describes the API: off by default)"},
			&cli.DurationFlag{Name: "grace", Value: serving.DefaultGrace, Usage: "how long shutdown waits for in-flight requests"},
			cliflags.MemoryLimitFlag(),
			&cli.BoolFlag{Name: flagInsecureInternal, Usage: "INSECURE, bypasses TLS and mutual TLS: with TLS on, give the adapter a plain-TCP loopback IIP listener with the same handlers, which any local process can use without a client certificate (default: that listener speaks mutual TLS with a key made in memory)"},
		}, cliflags.ServerTLSFlags()...),
		Action: run,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "echo_server:", err)
		os.Exit(1)
	}
}

// flagInsecureInternal makes the adapter's internal IIP listener plain TCP
// (see adapterListeners).
const flagInsecureInternal = "insecure-internal-iip"

func run(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", c.Args().Slice())
	}
	if c.Bool("reflection") && c.String("dora-addr") == "" {
		return errors.New("--reflection needs --dora-addr")
	}
	tlsConfig, err := cliflags.ServerTLS(c)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := cliflags.ApplyMemoryLimit(c, log); err != nil {
		return err
	}
	srv, err := iip.NewServer(iip.WithTLS(tlsConfig), iip.WithLogger(log))
	if err != nil {
		return err
	}
	echo.Register(srv)
	// Bound now: the adapter needs the address before serving starts.
	iipLn, err := net.Listen("tcp", c.String("iip-addr"))
	if err != nil {
		return err
	}
	ls := []serving.Listener{{Name: "iip", Listener: iipLn, Server: srv}}
	if addr := c.String("http-addr"); addr != "" {
		ls = append(ls, httpListener("http", addr, echo.HTTPHandler(), tlsConfig, log))
	}
	if addr := c.String("dora-addr"); addr != "" {
		ls = append(ls, doraListener(addr, tlsConfig, c.Bool("reflection"), log))
	}
	if addr := c.String("adapter-addr"); addr != "" {
		als, closeBackend, err := adapterListeners(addr, iipLn.Addr(), tlsConfig != nil, c.Bool(flagInsecureInternal), tlsWrap(tlsConfig), log)
		if err != nil {
			iipLn.Close()
			return err
		}
		defer closeBackend()
		ls = append(ls, als...) // shut down first: serving.Run goes in reverse
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serving.Run(ctx, os.Stdout, log, c.Duration("grace"), ls...)
}

// Limits of the net/http echo listener (--http-addr), the same as httpadapter's defaults:
// a peer that sends its request or takes its answer slower than these loses its connection.
const (
	httpReadHeaderTimeout = 10 * time.Second
	httpReadTimeout       = 30 * time.Second
	httpWriteTimeout      = 60 * time.Second
	httpIdleTimeout       = 120 * time.Second
	httpMaxHeaderBytes    = 64 << 10
)

// httpListener serves h over HTTP, or HTTPS with the same TLS settings as
// the IIP listener when tlsConfig is set, with the limits above.
func httpListener(name, addr string, h http.Handler, tlsConfig *tls.Config, log *slog.Logger) serving.Listener {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return serving.Listener{Name: name, Addr: addr, Server: hs, Wrap: tlsWrap(tlsConfig)}
}

// tlsWrap returns a function making a listener speak TLS with tlsConfig
// (HTTP/1.1 only: the handlers are plain request/response), or nil for
// plain TCP.
func tlsWrap(tlsConfig *tls.Config) func(net.Listener) net.Listener {
	if tlsConfig == nil {
		return nil
	}
	cfg := tlsConfig.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	return func(ln net.Listener) net.Listener { return tls.NewListener(ln, cfg) }
}
