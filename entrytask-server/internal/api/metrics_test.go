package api_test

import (
	"testing"

	"github.com/seed857a6cbd/pocket/dora/codes"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/api"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

// TestMetricsZeroAndAppStatus: before any call every kv.Store method × transport code,
// method × application status and rate-limit op is exposed at 0; a failed login and a
// read of a missing key (both transport code OK) show in etserver_rpc_app_status_total.
func TestMetricsZeroAndAppStatus(t *testing.T) {
	clk := newClock()
	st := sqliteBackend(t).open(t, clk)
	createUser(t, st, "alice", "alice-pw")
	s := startServer(t, st, clk, nil)

	text := metricsText(t, s)
	methods := []string{api.MethodLogin, api.MethodWriteSecureMessage, api.MethodReadSecureMessage, api.MethodLogout, api.MethodDeleteSecureMessage}
	for _, m := range methods {
		for c := codes.OK; c <= codes.Unauthenticated; c++ {
			if want := `etserver_rpc_calls_total{code="` + c.String() + `",method="` + m + `"} 0`; !hasLine(text, want) {
				t.Errorf("before any call, /metrics lacks %s", want)
			}
		}
	}
	for _, want := range []string{
		`etserver_rpc_app_status_total{method="/kv.Store/Login",status="INCORRECT_USERNAME_OR_PASSWORD"} 0`,
		`etserver_rpc_app_status_total{method="/kv.Store/Login",status="OK"} 0`,
		`etserver_rpc_app_status_total{method="/kv.Store/ReadSecureMessage",status="KEY_NOT_EXIST"} 0`,
		`etserver_rpc_app_status_total{method="/kv.Store/DeleteSecureMessage",status="KEY_NOT_EXIST"} 0`,
		`etserver_rpc_app_status_total{method="/kv.Store/Logout",status="OK"} 0`,
		`etserver_rpc_rate_limited_total{op="login"} 0`,
		`etserver_rpc_rate_limited_total{op="read"} 0`,
		`etserver_rpc_rate_limited_total{op="write"} 0`,
	} {
		if !hasLine(text, want) {
			t.Errorf("before any call, /metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Fatalf("exposition:\n%s", text)
	}

	ctx := ctxT(t)
	if r, err := s.kv.Login(ctx, &kvpb.LoginReq{Username: "alice", Password: "wrong"}); err != nil || r.GetStatus().GetCode() != kvpb.CODE_INCORRECT_USERNAME_OR_PASSWORD {
		t.Fatalf("wrong password: %v %v", r, err)
	}
	actx := withToken(ctx, login(t, s, "alice", "alice-pw"))
	if r, err := s.kv.ReadSecureMessage(actx, &kvpb.ReadSecureMessageReq{Key: []byte("missing")}); err != nil || r.GetStatus().GetCode() != kvpb.CODE_KEY_NOT_EXIST {
		t.Fatalf("read of a missing key: %v %v", r, err)
	}
	metric(t, s, `etserver_rpc_app_status_total{method="/kv.Store/Login",status="INCORRECT_USERNAME_OR_PASSWORD"} 1`)
	metric(t, s, `etserver_rpc_app_status_total{method="/kv.Store/Login",status="OK"} 1`)
	metric(t, s, `etserver_rpc_app_status_total{method="/kv.Store/ReadSecureMessage",status="KEY_NOT_EXIST"} 1`)
	metric(t, s, `etserver_rpc_calls_total{code="OK",method="/kv.Store/Login"} 2`)
	metric(t, s, `etserver_rpc_calls_total{code="OK",method="/kv.Store/ReadSecureMessage"} 1`)
}
