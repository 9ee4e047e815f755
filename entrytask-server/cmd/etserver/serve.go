package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/entrytask-server/infra/config"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run the service (the RPC API is pending the dora layer; the admin HTTP port runs now)",
		Flags: configFlags(),
		Action: func(c *cli.Context) error {
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

// serve runs until ctx is done: it opens the stores (applying migrations), builds the use
// cases, starts the admin HTTP port, then on cancellation shuts down within
// shutdown.timeout and closes the pools. ready, if set, receives the admin address.
func serve(ctx context.Context, cfg config.Config, logw io.Writer, ready func(admin string)) error {
	log := newLogger(cfg, logw)
	tlsCfg, err := serverTLS(cfg)
	if err != nil {
		return err
	}
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	b, err := openBackend(openCtx, cfg, log)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		if err := b.Close(); err != nil {
			log.Error("closing stores", "err", err)
		}
	}()
	svc, err := newService(cfg, b)
	if err != nil {
		return err
	}
	_ = svc // handed to the dora API layer once it lands
	adminAddr := ""
	var admin interface{ Shutdown(context.Context) error }
	var adminDone <-chan error
	if cfg.AdminListen != "" {
		srv, addr, done, err := startAdmin(cfg.AdminListen, adminHandler(newRegistry(b), b.checks, log), log)
		if err != nil {
			return err
		}
		admin, adminDone, adminAddr = srv, done, addr.String()
	}
	log.Warn("RPC listener pending: the dora API layer is not wired yet, so nothing listens on the RPC address",
		"listen", cfg.Listen, "tls", tlsCfg != nil, "mtls", tlsCfg != nil && tlsCfg.ClientAuth == tls.RequireAndVerifyClientCert, "store", b.mode)
	if ready != nil {
		ready(adminAddr)
	}
	select {
	case <-ctx.Done():
	case err := <-adminDone:
		if err != nil {
			return fmt.Errorf("admin: %w", err)
		}
	}
	log.Info("shutting down", "timeout", cfg.Shutdown.Timeout)
	sctx, scancel := context.WithTimeout(context.Background(), cfg.Shutdown.Timeout)
	defer scancel()
	if admin != nil {
		if err := admin.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("admin: shutdown: %w", err)
		}
		<-adminDone
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
