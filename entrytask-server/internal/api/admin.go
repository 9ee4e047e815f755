package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/adminpb"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
)

// Full method names of the etadmin.Admin service.
const (
	MethodAdminAddUser        = "/etadmin.Admin/AddUser"
	MethodAdminChangePassword = "/etadmin.Admin/ChangePassword"
	MethodAdminDeleteUser     = "/etadmin.Admin/DeleteUser"
	MethodAdminSetQuota       = "/etadmin.Admin/SetQuota"
	MethodAdminListUsers      = "/etadmin.Admin/ListUsers"
)

// MDAdminToken is the request metadata key carrying the admin token.
const MDAdminToken = "admin-token"

// MinAdminTokenBytes is the shortest admin token NewServer accepts (16 bytes), so that a
// configured token cannot be guessed by trying.
const MinAdminTokenBytes = 16

var errAdminUnauthenticated = status.Error(codes.Unauthenticated, "etserver: admin: send the configured admin token in metadata \""+MDAdminToken+"\"")

// adminAuthenticated checks metadata admin-token against Options.AdminToken in constant
// time (SHA-256 of both, so the length does not show either). Without a configured token
// every admin call is refused (the service is not registered then anyway).
func (s *Store) adminAuthenticated(ctx context.Context) error {
	if s.adminToken == nil {
		return errAdminUnauthenticated
	}
	md, _ := metadata.FromIncomingContext(ctx)
	got := sha256.Sum256([]byte(md.Get(MDAdminToken)))
	if subtle.ConstantTimeCompare(got[:], s.adminToken) != 1 {
		return errAdminUnauthenticated
	}
	return nil
}

// admin serves etadmin.Admin on the account use cases.
type admin struct {
	adminpb.UnimplementedAdminServer
	st *Store
}

func (a *admin) answer(ctx context.Context, method string, acc app.Account, err error) (*adminpb.AccountRsp, error) {
	if err != nil {
		return nil, adminStatus(ctx, a.st, method, err)
	}
	return &adminpb.AccountRsp{Account: accountPB(acc)}, nil
}

// AddUser implements adminpb.AdminServer.
func (a *admin) AddUser(ctx context.Context, req *adminpb.AddUserReq) (*adminpb.AccountRsp, error) {
	var q *domain.Quota
	if req.GetReadQps() != 0 || req.GetWriteQps() != 0 {
		q = &domain.Quota{Read: int(req.GetReadQps()), Write: int(req.GetWriteQps())}
	}
	acc, err := a.st.svc.AddUser(ctx, req.GetUsername(), req.GetPassword(), q)
	return a.answer(ctx, MethodAdminAddUser, acc, err)
}

// ChangePassword implements adminpb.AdminServer.
func (a *admin) ChangePassword(ctx context.Context, req *adminpb.ChangePasswordReq) (*adminpb.AccountRsp, error) {
	acc, err := a.st.svc.ChangePassword(ctx, req.GetUsername(), req.GetPassword())
	return a.answer(ctx, MethodAdminChangePassword, acc, err)
}

// DeleteUser implements adminpb.AdminServer.
func (a *admin) DeleteUser(ctx context.Context, req *adminpb.DeleteUserReq) (*adminpb.AccountRsp, error) {
	acc, err := a.st.svc.DeleteUser(ctx, req.GetUsername())
	return a.answer(ctx, MethodAdminDeleteUser, acc, err)
}

// SetQuota implements adminpb.AdminServer.
func (a *admin) SetQuota(ctx context.Context, req *adminpb.SetQuotaReq) (*adminpb.AccountRsp, error) {
	acc, err := a.st.svc.SetUserQuota(ctx, req.GetUsername(), domain.Quota{Read: int(req.GetReadQps()), Write: int(req.GetWriteQps())})
	return a.answer(ctx, MethodAdminSetQuota, acc, err)
}

// ListUsers implements adminpb.AdminServer.
func (a *admin) ListUsers(ctx context.Context, req *adminpb.ListUsersReq) (*adminpb.ListUsersRsp, error) {
	page, err := a.st.svc.ListUsers(ctx, req.GetAfter(), int(req.GetLimit()))
	if err != nil {
		return nil, adminStatus(ctx, a.st, MethodAdminListUsers, err)
	}
	out := &adminpb.ListUsersRsp{Accounts: make([]*adminpb.Account, len(page))}
	for i, acc := range page {
		out.Accounts[i] = accountPB(acc)
	}
	return out, nil
}

func accountPB(a app.Account) *adminpb.Account {
	pb := &adminpb.Account{Id: a.ID, Username: a.Username, ReadQps: int32(a.Quota.Read), WriteQps: int32(a.Quota.Write),
		QuotaSet: a.QuotaSet, Outdated: a.Outdated}
	if a.HashParams != (domain.PasswordParams{}) {
		pb.HashParams = a.HashParams.String()
	}
	return pb
}

// adminStatus maps the account use cases' errors: AlreadyExists, NotFound, then as the
// kv calls (InvalidArgument naming the rule, ResourceExhausted with retry-after-ms).
func adminStatus(ctx context.Context, st *Store, method string, err error) error {
	switch {
	case errors.Is(err, domain.ErrUserExists):
		return status.Error(codes.AlreadyExists, "etserver: admin: "+err.Error())
	case errors.Is(err, domain.ErrUserNotFound):
		return status.Error(codes.NotFound, "etserver: admin: user not found")
	}
	return statusErr(ctx, st.log, method, err)
}

// adminToken returns the SHA-256 of token, or nil for "" (admin service off).
func adminToken(token string) ([]byte, error) {
	if token == "" {
		return nil, nil
	}
	if len(token) < MinAdminTokenBytes {
		return nil, fmt.Errorf("api: Options.AdminToken is %d bytes, at least %d required", len(token), MinAdminTokenBytes)
	}
	h := sha256.Sum256([]byte(token))
	return h[:], nil
}
