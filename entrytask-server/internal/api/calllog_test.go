package api_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/api"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/ratelimit"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestCallLog: at debug level every call is logged with its method and code, after the
// authentication and rate limit ran (a refused call is logged with its refusal).
func TestCallLog(t *testing.T) {
	clk := newClock()
	st := sqliteBackend(t).open(t, clk)
	createUser(t, st, "hal", "pw")
	svc, err := app.New(app.Options{Accounts: st.accounts, Quotas: st.quotas, Sessions: st.sessions, KV: st.kv,
		Limiter: ratelimit.NewLocal(ratelimit.Options{Now: clk.Now}), PasswordParams: cheap, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := api.NewServer(api.Options{Service: svc, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	_, c, stop := serveLoopback(t, srv)
	defer stop()
	kv := kvpb.NewStoreClient(c)
	rsp, err := kv.Login(ctxT(t), &kvpb.LoginReq{Username: "hal", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.ReadSecureMessage(ctxT(t), &kvpb.ReadSecureMessageReq{Key: []byte("k")}); err == nil {
		t.Fatal("read without a token accepted")
	}
	ctx := withToken(context.Background(), rsp.GetToken())
	if _, err := kv.WriteSecureMessage(ctx, &kvpb.WriteSecureMessageReq{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"msg=call method=/kv.Store/Login code=OK",
		"msg=call method=/kv.Store/ReadSecureMessage code=Unauthenticated",
		"msg=call method=/kv.Store/WriteSecureMessage code=OK",
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}
