package api

import (
	"errors"
	"log/slog"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/health"
	"github.com/seed857a6cbd/pocket/dora/reflection"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/adminpb"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

// Options configure NewServer.
type Options struct {
	// Service runs the use cases; required.
	Service *app.Service
	// Logger receives call logs (debug level) and storage failures (error level); nil
	// means slog.Default().
	Logger *slog.Logger
	// Metrics, when set, observes every call (see NewMetrics); nil means no metrics.
	Metrics *Metrics
	// AdminToken, when not "", makes NewServer also serve etadmin.Admin (account
	// management, package adminpb), whose calls must carry it in metadata "admin-token"
	// (compared in constant time). At least MinAdminTokenBytes (16) bytes. "" (default):
	// the admin service is not served.
	AdminToken string
	// Health, when set, is served as dora.health.v1.Health (package dora/health); the
	// caller sets its statuses. Its methods need no session.
	Health *health.Server
	// Reflection serves dora.reflection.v1.Reflection (package dora/reflection) for the
	// services of this server; no session needed. Default false.
	Reflection bool
}

// NewStore returns the kv.Store handlers on o.Service without interceptors; NewServer is
// what serves them.
func NewStore(o Options) (*Store, error) {
	if o.Service == nil {
		return nil, errors.New("api: Options.Service is required")
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	tok, err := adminToken(o.AdminToken)
	if err != nil {
		return nil, err
	}
	return &Store{svc: o.Service, log: log, metrics: o.Metrics, adminToken: tok}, nil
}

// NewServer returns a dora server serving kv.Store on o.Service with the interceptors
// (logging, authentication, rate limit), metrics when o.Metrics is set, and o.Logger as the
// server's logger. extra are appended (TLS, MaxRecvMsgSize, MaxConcurrentCalls, ...).
// Serve it with (*dora.Server).Serve; stop it with GracefulStop.
func NewServer(o Options, extra ...dora.ServerOption) (*dora.Server, error) {
	st, err := NewStore(o)
	if err != nil {
		return nil, err
	}
	opts := []dora.ServerOption{dora.ChainUnaryInterceptor(st.intercept), dora.WithLogger(st.log)}
	if o.Metrics != nil {
		opts = append(opts, dora.WithStats(o.Metrics))
	}
	srv := dora.NewServer(append(opts, extra...)...)
	kvpb.RegisterStoreServer(srv, st)
	if st.adminToken != nil {
		adminpb.RegisterAdminServer(srv, &admin{st: st})
	}
	if o.Health != nil {
		health.RegisterHealthServer(srv, o.Health)
	}
	if o.Reflection {
		reflection.Register(srv)
	}
	return srv, nil
}
