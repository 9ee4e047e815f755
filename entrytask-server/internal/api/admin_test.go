package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/adminpb"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/api"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/ratelimit"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

const testAdminToken = "0123456789abcdef-admin"

// startAdminServer serves kv.Store and, with token != "", etadmin.Admin on loopback.
func startAdminServer(t *testing.T, st *stores, clk *clock, token string) (adminpb.AdminClient, kvpb.StoreClient) {
	t.Helper()
	svc, err := app.New(app.Options{Accounts: st.accounts, Quotas: st.quotas, Sessions: st.sessions, KV: st.kv,
		Limiter: ratelimit.NewLocal(ratelimit.Options{Now: clk.Now}), PasswordParams: cheap, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.NewServer(api.Options{Service: svc, AdminToken: token})
	if err != nil {
		t.Fatal(err)
	}
	_, c, stop := serveLoopback(t, srv)
	t.Cleanup(stop)
	return adminpb.NewAdminClient(c), kvpb.NewStoreClient(c)
}

func adminCtx(t *testing.T, token string) context.Context {
	return metadata.NewOutgoingContext(ctxT(t), metadata.Pairs(api.MDAdminToken, token))
}

// TestAdminService: account management through the real dora server on both stores,
// guarded by the admin token.
func TestAdminService(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		clk := newClock()
		st := b.open(t, clk)
		adm, kv := startAdminServer(t, st, clk, testAdminToken)
		ctx := adminCtx(t, testAdminToken)

		for name, c := range map[string]context.Context{"no token": ctxT(t), "wrong token": adminCtx(t, testAdminToken+"x"), "session token": withToken(ctxT(t), "0123456789abcdef0123456789abcdef")} {
			if _, err := adm.ListUsers(c, &adminpb.ListUsersReq{}); status.Code(err) != codes.Unauthenticated {
				t.Fatalf("%s: %v, want Unauthenticated", name, err)
			}
		}
		r, err := adm.AddUser(ctx, &adminpb.AddUserReq{Username: "alice", Password: "correct horse", ReadQps: 5, WriteQps: 6})
		if err != nil {
			t.Fatal(err)
		}
		if a := r.GetAccount(); a.GetUsername() != "alice" || a.GetReadQps() != 5 || !a.GetQuotaSet() || a.GetHashParams() != cheap.String() || a.GetOutdated() {
			t.Fatalf("AddUser = %v", a)
		}
		if _, err := adm.AddUser(ctx, &adminpb.AddUserReq{Username: "alice", Password: "correct horse"}); status.Code(err) != codes.AlreadyExists {
			t.Fatalf("second AddUser: %v", err)
		}
		if _, err := adm.AddUser(ctx, &adminpb.AddUserReq{Username: "bob", Password: "short"}); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "at least 8") {
			t.Fatalf("short password: %v", err)
		}
		loginCode := func(user, pw string) kvpb.CODE {
			t.Helper()
			rsp, err := kv.Login(ctxT(t), &kvpb.LoginReq{Username: user, Password: pw})
			if err != nil {
				t.Fatal(err)
			}
			return rsp.GetStatus().GetCode()
		}
		if c := loginCode("alice", "correct horse"); c != kvpb.CODE_OK {
			t.Fatalf("login: %v", c)
		}
		if _, err := adm.ChangePassword(ctx, &adminpb.ChangePasswordReq{Username: "alice", Password: "battery staple"}); err != nil {
			t.Fatal(err)
		}
		if c := loginCode("alice", "correct horse"); c != kvpb.CODE_INCORRECT_USERNAME_OR_PASSWORD {
			t.Fatalf("old password: %v", c)
		}
		if c := loginCode("alice", "battery staple"); c != kvpb.CODE_OK {
			t.Fatalf("new password: %v", c)
		}
		if r, err := adm.SetQuota(ctx, &adminpb.SetQuotaReq{Username: "alice", ReadQps: 70, WriteQps: 80}); err != nil || r.GetAccount().GetWriteQps() != 80 {
			t.Fatalf("SetQuota: %v %v", r, err)
		}
		if _, err := adm.SetQuota(ctx, &adminpb.SetQuotaReq{Username: "alice", ReadQps: 0, WriteQps: 80}); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("zero quota: %v", err)
		}
		if _, err := adm.AddUser(ctx, &adminpb.AddUserReq{Username: "carol", Password: "carol's password"}); err != nil {
			t.Fatal(err)
		}
		l, err := adm.ListUsers(ctx, &adminpb.ListUsersReq{Limit: 1})
		if err != nil || len(l.GetAccounts()) != 1 || l.GetAccounts()[0].GetUsername() != "alice" {
			t.Fatalf("first page: %v %v", l, err)
		}
		l, err = adm.ListUsers(ctx, &adminpb.ListUsersReq{After: "alice", Limit: 5})
		if err != nil || len(l.GetAccounts()) != 1 || l.GetAccounts()[0].GetUsername() != "carol" {
			t.Fatalf("second page: %v %v", l, err)
		}
		if _, err := adm.ListUsers(ctx, &adminpb.ListUsersReq{Limit: 5000}); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("huge page: %v", err)
		}
		if _, err := adm.DeleteUser(ctx, &adminpb.DeleteUserReq{Username: "alice"}); err != nil {
			t.Fatal(err)
		}
		if _, err := adm.DeleteUser(ctx, &adminpb.DeleteUserReq{Username: "alice"}); status.Code(err) != codes.NotFound {
			t.Fatalf("second delete: %v", err)
		}
		if c := loginCode("alice", "battery staple"); c != kvpb.CODE_INCORRECT_USERNAME_OR_PASSWORD {
			t.Fatalf("deleted user: %v", c)
		}
	})
}

// TestAdminServiceOff: without a token the admin service is not served at all, and a
// token shorter than MinAdminTokenBytes is refused.
func TestAdminServiceOff(t *testing.T) {
	clk := newClock()
	st := sqliteBackend(t).open(t, clk)
	adm, _ := startAdminServer(t, st, clk, "")
	if _, err := adm.ListUsers(adminCtx(t, testAdminToken), &adminpb.ListUsersReq{}); status.Code(err) == codes.OK {
		t.Fatal("admin call served without admin.token")
	}
	svc, err := app.New(app.Options{Accounts: st.accounts, Quotas: st.quotas, Sessions: st.sessions, KV: st.kv,
		Limiter: ratelimit.NewLocal(ratelimit.Options{}), PasswordParams: cheap, LoginCacheTTL: -time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.NewServer(api.Options{Service: svc, AdminToken: "too short"}); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Fatalf("short admin token: %v", err)
	}
}
