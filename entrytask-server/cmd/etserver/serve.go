package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/health"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/api"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/config"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/wire"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "serve the kv.Store RPC API (dora) on --listen and the admin HTTP port on --admin-listen",
		Flags: serveFlags(),
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, cfg, c.App.ErrWriter, nil)
		},
	}
}

// listeningMsg is the message of the record serve logs once its listeners are bound,
// with attributes addr (the RPC address) and admin (the admin HTTP address, "" when off):
//
//	text: time=… level=INFO msg=listening addr=127.0.0.1:7000 admin=127.0.0.1:7001
//	json: {"time":"…","level":"INFO","msg":"listening","addr":"127.0.0.1:7000","admin":"127.0.0.1:7001"}
//
// It is written at every log.level. Scripts and tests that pass --listen 127.0.0.1:0 read
// the port from it.
const listeningMsg = "listening"

// serve runs until ctx is done: it opens the stores (applying migrations), builds the use
// cases, serves the RPC API on cfg.Listen and the admin HTTP port, then on cancellation
// stops accepting, drains calls in flight for up to shutdown.timeout (then cuts the rest)
// and closes the pools. ready, if set, receives the bound RPC and admin addresses.
func serve(ctx context.Context, cfg config.Config, logw io.Writer, ready func(rpc, admin string)) error {
	log := newLogger(cfg, logw)
	defer tuneGC(cfg)() // gc_percent and gc_memory_limit_mib, when configured
	tlsCfg, err := serverTLS(cfg)
	if err != nil {
		return err
	}
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	b, err := wire.Open(openCtx, cfg, log)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		if err := b.Close(); err != nil {
			log.Error("closing stores", "err", err)
		}
	}()
	svc, err := wire.NewService(cfg, b)
	if err != nil {
		return err
	}
	defer wire.WatchSessions(cfg, svc)() // stops before the stores close; covers the value cache too
	defer wire.WatchValues(cfg, b)()     // the value cache's own watch, when the session watch is off
	reg := newRegistry(b)
	metrics, err := api.NewMetrics(reg)
	if err != nil {
		return err
	}
	opts := []dora.ServerOption{dora.MaxRecvMsgSize(wire.MaxRecvMsgSize(svc.ValueMaxBytes())),
		dora.IdleCallWorkers(cfg.CallWorkers)} // 0, the default, is dora's goroutine per call
	if tlsCfg != nil {
		opts = append(opts, dora.WithTLS(tlsCfg))
	}
	tr, err := startTracing(ctx, cfg, log)
	if err != nil {
		return err
	}
	if tr != nil {
		opts = append(opts, tr.serverOption())
		defer tr.shutdown(log) // after the calls drained, before the stores close
	}
	// The health service: SERVING while every store answers, NOT_SERVING while one does
	// not (probed every healthInterval) and from the start of a shutdown.
	sh := &storeHealth{hs: health.NewServer(), checks: b.Checks, log: log}
	sh.probe(ctx)
	stopHealth := sh.watch(ctx, healthInterval)
	defer stopHealth()
	rpc, err := api.NewServer(api.Options{Service: svc, Logger: log, Metrics: metrics, AdminToken: cfg.Admin.Token,
		Health: sh.hs, Reflection: cfg.Reflection}, opts...)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	rpcDone := make(chan error, 1)
	go func() { rpcDone <- rpc.Serve(lis) }()
	stopRPC := func() { rpc.Stop(); <-rpcDone }
	adminAddr := ""
	var admin interface{ Shutdown(context.Context) error }
	var adminDone <-chan error
	if cfg.AdminListen != "" {
		srv, addr, done, err := startAdmin(cfg.AdminListen, adminHandler(reg, b.Checks, log, cfg.Admin.Pprof), log)
		if err != nil {
			stopRPC()
			return err
		}
		admin, adminDone, adminAddr = srv, done, addr.String()
	}
	// Written through the handler so that it appears whatever log.level says: scripts
	// started with --log-level warn still read the address from it.
	rec := slog.NewRecord(time.Now(), slog.LevelInfo, listeningMsg, 0)
	rec.Add("addr", lis.Addr().String(), "admin", adminAddr, "store", b.Mode,
		"tls", tlsCfg != nil, "mtls", tlsCfg != nil && tlsCfg.ClientAuth == tls.RequireAndVerifyClientCert,
		"admin_rpc", cfg.Admin.Token != "", "reflection", cfg.Reflection, "pprof", adminAddr != "" && cfg.Admin.Pprof, "otel", tr != nil)
	_ = log.Handler().Handle(ctx, rec)
	if ready != nil {
		ready(lis.Addr().String(), adminAddr)
	}
	var runErr error
	select {
	case <-ctx.Done():
	case err := <-adminDone:
		if err != nil {
			runErr = fmt.Errorf("admin: %w", err)
		}
		adminDone = nil
	case err := <-rpcDone:
		rpcDone <- err
		runErr = fmt.Errorf("rpc: %w", err)
	}
	log.Info("shutting down", "timeout", cfg.Shutdown.Timeout)
	stopHealth()
	sh.hs.Shutdown() // NOT_SERVING for every service; open Watch calls end
	sctx, scancel := context.WithTimeout(context.Background(), cfg.Shutdown.Timeout)
	defer scancel()
	if err := rpc.GracefulStop(sctx); err != nil {
		log.Warn("drain timed out; calls still in flight were cut", "timeout", cfg.Shutdown.Timeout)
	}
	if err := <-rpcDone; err != nil && runErr == nil {
		runErr = fmt.Errorf("rpc: %w", err)
	}
	if admin != nil {
		if err := admin.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) && runErr == nil {
			runErr = fmt.Errorf("admin: shutdown: %w", err)
		}
		if adminDone != nil {
			<-adminDone
		}
	}
	if runErr != nil {
		return runErr
	}
	log.Info("stopped")
	return nil
}

// serverTLS loads tls.cert/tls.key (and tls.client_ca for mTLS); nil when TLS is off.
func serverTLS(cfg config.Config) (*tls.Config, error) {
	if cfg.TLS.Cert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
	if err != nil {
		return nil, fmt.Errorf("config: tls.cert/tls.key: %w", err)
	}
	t := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.TLS.ClientCA != "" {
		pem, err := os.ReadFile(cfg.TLS.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("config: tls.client_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("config: tls.client_ca: %s holds no PEM certificate", cfg.TLS.ClientCA)
		}
		t.ClientCAs, t.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return t, nil
}
