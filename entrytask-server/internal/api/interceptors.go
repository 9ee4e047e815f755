package api

import (
	"context"
	"log/slog"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/health"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/reflection"
	"github.com/seed857a6cbd/pocket/dora/status"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
)

type principalKey struct{}

// principalCtx is the context the authentication interceptor hands on: ctx with the
// caller, in one allocation (context.WithValue would take two: the context and the boxed
// Principal).
type principalCtx struct {
	context.Context
	p app.Principal
}

// Value answers principalKey with the context itself.
func (c *principalCtx) Value(key any) any {
	if key == (principalKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// principal returns the caller the authentication interceptor put in ctx, or
// ErrUnauthenticated when there is none.
func principal(ctx context.Context) (app.Principal, error) {
	c, ok := ctx.Value(principalKey{}).(*principalCtx)
	if !ok {
		return app.Principal{}, domain.ErrUnauthenticated
	}
	return c.p, nil
}

// PrincipalFrom returns the authenticated caller of a server call, as the authentication
// interceptor resolved it; false for Login and for calls that were not authenticated.
func PrincipalFrom(ctx context.Context) (app.Principal, bool) {
	p, err := principal(ctx)
	return p, err == nil
}

// quotaOp is the quota each method takes; methods absent take none.
var quotaOp = map[string]domain.Op{
	MethodReadSecureMessage:   domain.OpRead,
	MethodWriteSecureMessage:  domain.OpWrite,
	MethodDeleteSecureMessage: domain.OpWrite,
}

// authKind says how a method is authenticated: by session token (the zero value, every
// kv.Store method but Login), not at all (Login), or by the admin token (etadmin.Admin).
type authKind uint8

const (
	authSession authKind = iota
	authNone
	authAdmin
)

// authExempt are the methods not authenticated by session token (one map lookup per call).
var authExempt = map[string]authKind{
	MethodLogin:        authNone,
	MethodAdminAddUser: authAdmin, MethodAdminChangePassword: authAdmin, MethodAdminDeleteUser: authAdmin,
	MethodAdminSetQuota: authAdmin, MethodAdminListUsers: authAdmin,
	health.Health_Check_FullMethodName:                        authNone,
	reflection.Reflection_ListServices_FullMethodName:         authNone,
	reflection.Reflection_FileContainingSymbol_FullMethodName: authNone,
	reflection.Reflection_FileByFilename_FullMethodName:       authNone,
}

// authenticated resolves metadata token (and the legacy username) to an app.Principal
// before a kv.Store method other than Login runs, and checks metadata admin-token before an
// etadmin.Admin method; a failure is Unauthenticated. It returns ctx with the caller's
// app.Principal (ctx itself for the methods in
// authExempt: Login, health, reflection, and etadmin.Admin once its token checks), or the
// Unauthenticated status error.
func (s *Store) authenticated(ctx context.Context, info *dora.UnaryServerInfo) (context.Context, error) {
	switch kind, ok := authExempt[info.FullMethod]; {
	case !ok:
	case kind == authAdmin:
		return ctx, s.adminAuthenticated(ctx)
	default:
		return ctx, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	p, err := s.svc.Authenticate(ctx, md.Get(MDToken), md.Get(MDUsername))
	if err != nil {
		return nil, statusErr(ctx, s.log, info.FullMethod, err)
	}
	return &principalCtx{Context: ctx, p: p}, nil
}

// limit takes one token of the authenticated caller's quota for the method: nil, or the
// status error to answer (over quota: ResourceExhausted with retry-after-ms; the call never
// reaches the handler).
func (s *Store) limit(ctx context.Context, info *dora.UnaryServerInfo) error {
	op, ok := quotaOp[info.FullMethod]
	if !ok {
		return nil
	}
	p, err := principal(ctx)
	if err == nil {
		err = s.svc.CheckQuota(ctx, p, op)
	}
	if err != nil {
		serr := statusErr(ctx, s.log, info.FullMethod, err)
		if s.metrics != nil && status.Code(serr) == codes.ResourceExhausted {
			s.metrics.limited.WithLabelValues(string(op)).Inc()
		}
		return serr
	}
	return nil
}

// intercept is etserver's one unary interceptor: logging (logCalls, at debug level only),
// then authentication (authenticated), then the rate limit (limit), in that order.
func (s *Store) intercept(ctx context.Context, req any, info *dora.UnaryServerInfo, handler dora.UnaryHandler) (any, error) {
	if !s.log.Enabled(ctx, slog.LevelDebug) {
		return s.guarded(ctx, req, info, handler)
	}
	return s.logCalls(ctx, req, info, func(ctx context.Context, req any) (any, error) {
		return s.guarded(ctx, req, info, handler)
	})
}

// guarded runs handler after authentication and the rate limit.
func (s *Store) guarded(ctx context.Context, req any, info *dora.UnaryServerInfo, handler dora.UnaryHandler) (any, error) {
	ctx, err := s.authenticated(ctx, info)
	if err != nil {
		return nil, err
	}
	if err := s.limit(ctx, info); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// logCalls logs every call at debug level (method, code, duration, legacy). Storage
// failures are logged at error level with their cause where they are mapped to Internal.
func (s *Store) logCalls(ctx context.Context, req any, info *dora.UnaryServerInfo, handler dora.UnaryHandler) (any, error) {
	if !s.log.Enabled(ctx, slog.LevelDebug) {
		return handler(ctx, req)
	}
	start := time.Now()
	resp, err := handler(ctx, req)
	s.log.LogAttrs(ctx, slog.LevelDebug, "call",
		slog.String("method", info.FullMethod),
		slog.String("code", status.Code(err).String()),
		slog.Duration("took", time.Since(start)),
		slog.Bool("legacy", dora.IsLegacy(ctx)))
	return resp, err
}
