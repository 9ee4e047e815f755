package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"

	"github.com/seed857a6cbd/pocket/dora"

	"github.com/seed857a6cbd/pocket/dora/metadata"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

// Full method names of kv.Store.
const (
	MethodLogin               = "/kv.Store/Login"
	MethodWriteSecureMessage  = "/kv.Store/WriteSecureMessage"
	MethodReadSecureMessage   = "/kv.Store/ReadSecureMessage"
	MethodLogout              = "/kv.Store/Logout"
	MethodDeleteSecureMessage = "/kv.Store/DeleteSecureMessage"
)

// Store implements kvpb.StoreServer on an app.Service. Read, write and delete expect the
// authentication interceptor to have put the caller's app.Principal in the context; called
// without it they answer Unauthenticated.
type Store struct {
	kvpb.UnimplementedStoreServer
	svc     *app.Service
	log     *slog.Logger
	metrics *Metrics
	// adminToken is the SHA-256 of Options.AdminToken; nil: admin calls refused.
	adminToken []byte
}

var _ kvpb.StoreServer = (*Store)(nil)

// Statuses shared by every answer that carries them (marshalling only reads them).
var (
	okStatus    = &kvpb.Status{}
	incorrect   = &kvpb.Status{Code: kvpb.CODE_INCORRECT_USERNAME_OR_PASSWORD, Message: "incorrect username or password"}
	keyNotExist = &kvpb.Status{Code: kvpb.CODE_KEY_NOT_EXIST, Message: "key does not exist"}
)

// Login checks the credentials and returns a token. Unknown user and wrong password both
// answer status INCORRECT_USERNAME_OR_PASSWORD; over the login throttle the call is
// ResourceExhausted.
func (s *Store) Login(ctx context.Context, req *kvpb.LoginReq) (*kvpb.LoginRsp, error) {
	res, err := s.svc.LoginFrom(ctx, req.GetUsername(), req.GetPassword(), peerAddr(ctx))
	switch {
	case err == nil:
		s.metrics.answered(MethodLogin, kvpb.CODE_OK)
		return &kvpb.LoginRsp{Status: &kvpb.Status{}, Token: res.Token}, nil
	case errors.Is(err, domain.ErrIncorrectCredentials):
		s.metrics.answered(MethodLogin, incorrect.Code)
		return &kvpb.LoginRsp{Status: incorrect}, nil
	case errors.Is(err, domain.ErrQuotaExceeded) && s.metrics != nil:
		s.metrics.limited.WithLabelValues(string(domain.OpLogin)).Inc()
	}
	return nil, statusErr(ctx, s.log, MethodLogin, err)
}

// peerAddr is the caller's IP address, for the per-address login throttle (invalid when
// the transport is not TCP).
func peerAddr(ctx context.Context) netip.Addr {
	a, ok := dora.Peer(ctx)
	if !ok {
		return netip.Addr{}
	}
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort().Addr().Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// WriteSecureMessage stores the value under the key in the caller's namespace and echoes both.
func (s *Store) WriteSecureMessage(ctx context.Context, req *kvpb.WriteSecureMessageReq) (*kvpb.WriteSecureMessageRsp, error) {
	p, err := principal(ctx)
	if err == nil {
		err = s.svc.Write(ctx, p, string(req.GetKey()), req.GetValue())
	}
	if err != nil {
		return nil, statusErr(ctx, s.log, MethodWriteSecureMessage, err)
	}
	return &kvpb.WriteSecureMessageRsp{Key: req.GetKey(), Value: req.GetValue()}, nil
}

// ReadSecureMessage returns the value of the key in the caller's namespace, or status
// KEY_NOT_EXIST.
func (s *Store) ReadSecureMessage(ctx context.Context, req *kvpb.ReadSecureMessageReq) (*kvpb.ReadSecureMessageRsp, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, statusErr(ctx, s.log, MethodReadSecureMessage, err)
	}
	v, err := s.svc.Read(ctx, p, string(req.GetKey()))
	switch {
	case err == nil:
		s.metrics.answered(MethodReadSecureMessage, kvpb.CODE_OK)
		return &kvpb.ReadSecureMessageRsp{Status: okStatus, Value: v}, nil
	case errors.Is(err, domain.ErrKeyNotExist):
		s.metrics.answered(MethodReadSecureMessage, keyNotExist.Code)
		return &kvpb.ReadSecureMessageRsp{Status: keyNotExist}, nil
	}
	return nil, statusErr(ctx, s.log, MethodReadSecureMessage, err)
}

// DeleteSecureMessage removes the key from the caller's namespace, or answers status
// KEY_NOT_EXIST.
func (s *Store) DeleteSecureMessage(ctx context.Context, req *kvpb.DeleteSecureMessageReq) (*kvpb.DeleteSecureMessageRsp, error) {
	p, err := principal(ctx)
	if err == nil {
		err = s.svc.Delete(ctx, p, string(req.GetKey()))
	}
	switch {
	case err == nil:
		s.metrics.answered(MethodDeleteSecureMessage, kvpb.CODE_OK)
		return &kvpb.DeleteSecureMessageRsp{Status: &kvpb.Status{}}, nil
	case errors.Is(err, domain.ErrKeyNotExist):
		s.metrics.answered(MethodDeleteSecureMessage, keyNotExist.Code)
		return &kvpb.DeleteSecureMessageRsp{Status: keyNotExist}, nil
	}
	return nil, statusErr(ctx, s.log, MethodDeleteSecureMessage, err)
}

// Logout ends the session of the request's token; the token is Unauthenticated afterwards
// on every instance.
func (s *Store) Logout(ctx context.Context, _ *kvpb.LogoutReq) (*kvpb.LogoutRsp, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if err := s.svc.Logout(ctx, md.Get(MDToken)); err != nil {
		return nil, statusErr(ctx, s.log, MethodLogout, err)
	}
	s.metrics.answered(MethodLogout, kvpb.CODE_OK)
	return &kvpb.LogoutRsp{Status: &kvpb.Status{}}, nil
}
