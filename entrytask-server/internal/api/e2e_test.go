package api_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/api"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testkit"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

func wantCode(t *testing.T, what string, err error, want codes.Code, msgHas string) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("%s: code %s (%v), want %s", what, got, err, want)
	}
	if msgHas != "" && !strings.Contains(status.Convert(err).Message(), msgHas) {
		t.Fatalf("%s: message %q does not name %q", what, status.Convert(err).Message(), msgHas)
	}
}

func TestEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		clk := newClock()
		st := b.open(t, clk)
		createUser(t, st, "alice", "alice-pw")
		createUser(t, st, "bob", "bob-pw")
		s := startServer(t, st, clk, nil)
		ctx := ctxT(t)

		// wrong password and unknown user give the very same answer
		wrong, err := s.kv.Login(ctx, &kvpb.LoginReq{Username: "alice", Password: "nope"})
		if err != nil || wrong.GetStatus().GetCode() != kvpb.CODE_INCORRECT_USERNAME_OR_PASSWORD || wrong.GetToken() != "" {
			t.Fatalf("wrong password: %v %v", wrong, err)
		}
		unknown, err := s.kv.Login(ctx, &kvpb.LoginReq{Username: "nobody", Password: "nope"})
		if err != nil || !proto.Equal(wrong, unknown) {
			t.Fatalf("unknown user: %v %v, want the same as a wrong password %v", unknown, err, wrong)
		}

		tok := login(t, s, "alice", "alice-pw")
		bobTok := login(t, s, "bob", "bob-pw")
		actx := withToken(ctx, tok)
		w, err := s.kv.WriteSecureMessage(actx, &kvpb.WriteSecureMessageReq{Key: []byte("k"), Value: []byte("v1")})
		if err != nil || string(w.GetKey()) != "k" || string(w.GetValue()) != "v1" {
			t.Fatalf("write: %v %v", w, err)
		}
		r, err := s.kv.ReadSecureMessage(actx, &kvpb.ReadSecureMessageReq{Key: []byte("k")})
		if err != nil || r.GetStatus().GetCode() != kvpb.CODE_OK || string(r.GetValue()) != "v1" {
			t.Fatalf("read: %v %v", r, err)
		}
		// namespaces are per user
		r, err = s.kv.ReadSecureMessage(withToken(ctx, bobTok), &kvpb.ReadSecureMessageReq{Key: []byte("k")})
		if err != nil || r.GetStatus().GetCode() != kvpb.CODE_KEY_NOT_EXIST {
			t.Fatalf("bob reads alice's key: %v %v", r, err)
		}
		// the legacy username metadata is checked against the token
		if _, err := s.kv.ReadSecureMessage(withToken(ctx, tok, "alice"), &kvpb.ReadSecureMessageReq{Key: []byte("k")}); err != nil {
			t.Fatalf("read with matching username: %v", err)
		}
		_, err = s.kv.ReadSecureMessage(withToken(ctx, tok, "bob"), &kvpb.ReadSecureMessageReq{Key: []byte("k")})
		wantCode(t, "read with another user's username", err, codes.Unauthenticated, "")

		unauth := []struct {
			name string
			ctx  context.Context
		}{
			{"no metadata (never logged in)", ctx},
			{"empty token", withToken(ctx, "")},
			{"malformed token", withToken(ctx, "not-a-token")},
			{"forged token", withToken(ctx, "0123456789abcdef0123456789abcdef")},
			{"empty token with a username", withToken(ctx, "", "alice")},
		}
		for _, tc := range unauth {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.kv.ReadSecureMessage(tc.ctx, &kvpb.ReadSecureMessageReq{Key: []byte("k")})
				wantCode(t, "read", err, codes.Unauthenticated, "")
				_, err = s.kv.WriteSecureMessage(tc.ctx, &kvpb.WriteSecureMessageReq{Key: []byte("k"), Value: []byte("x")})
				wantCode(t, "write", err, codes.Unauthenticated, "")
			})
		}

		sizes := []struct {
			name    string
			key     []byte
			value   []byte
			read    bool
			msgHas  string
			wantErr bool
		}{
			{"key of 4096 bytes", bytes.Repeat([]byte("k"), 4096), []byte("v"), false, "", false},
			{"key of 4097 bytes", bytes.Repeat([]byte("k"), 4097), []byte("v"), false, "4096", true},
			{"key of 4097 bytes read", bytes.Repeat([]byte("k"), 4097), nil, true, "4096", true},
			{"empty key", nil, []byte("v"), false, "key", true},
			{"value at the limit", []byte("big"), bytes.Repeat([]byte("v"), testValueMax), false, "", false},
			{"value over the limit", []byte("big"), bytes.Repeat([]byte("v"), testValueMax+1), false, strconv.Itoa(testValueMax), true},
		}
		for _, tc := range sizes {
			t.Run(tc.name, func(t *testing.T) {
				var err error
				if tc.read {
					_, err = s.kv.ReadSecureMessage(actx, &kvpb.ReadSecureMessageReq{Key: tc.key})
				} else {
					_, err = s.kv.WriteSecureMessage(actx, &kvpb.WriteSecureMessageReq{Key: tc.key, Value: tc.value})
				}
				if !tc.wantErr {
					if err != nil {
						t.Fatal(err)
					}
					return
				}
				wantCode(t, "oversized", err, codes.InvalidArgument, tc.msgHas)
			})
		}

		// delete, then the key is gone
		d, err := s.kv.DeleteSecureMessage(actx, &kvpb.DeleteSecureMessageReq{Key: []byte("k")})
		if err != nil || d.GetStatus().GetCode() != kvpb.CODE_OK {
			t.Fatalf("delete: %v %v", d, err)
		}
		d, err = s.kv.DeleteSecureMessage(actx, &kvpb.DeleteSecureMessageReq{Key: []byte("k")})
		if err != nil || d.GetStatus().GetCode() != kvpb.CODE_KEY_NOT_EXIST {
			t.Fatalf("delete again: %v %v", d, err)
		}

		// logout ends the session everywhere
		if _, err := s.kv.Logout(withToken(ctx, bobTok), &kvpb.LogoutReq{}); err != nil {
			t.Fatalf("logout: %v", err)
		}
		_, err = s.kv.ReadSecureMessage(withToken(ctx, bobTok), &kvpb.ReadSecureMessageReq{Key: []byte("k")})
		wantCode(t, "read after logout", err, codes.Unauthenticated, "")

		// expiry: the session TTL passes on the injected clock
		clk.Add(time.Hour)
		_, err = s.kv.ReadSecureMessage(actx, &kvpb.ReadSecureMessageReq{Key: []byte("big")})
		wantCode(t, "read with an expired token", err, codes.Unauthenticated, "")

		metric(t, s, `etserver_rpc_calls_total{code="Unauthenticated",method="/kv.Store/ReadSecureMessage"}`)
		metric(t, s, `etserver_rpc_calls_total{code="InvalidArgument",method="/kv.Store/WriteSecureMessage"}`)
	})
}

// TestQuota: seeded user "1" may read 6/s with a burst of 1 and write 4/s with a burst of
// 1. Over quota a call is ResourceExhausted with retry-after-ms; once that time has passed
// on the clock, it succeeds again.
func TestQuota(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		clk := newClock()
		st := b.open(t, clk)
		if _, err := app.Seed(context.Background(), st.accounts, app.SeedOptions{Users: 1, InsecureFastHashes: true}); err != nil {
			t.Fatal(err)
		}
		s := startServer(t, st, clk, nil)
		ctx := withToken(ctxT(t), login(t, s, "1", "1"))
		calls := []struct {
			name string
			call func(opts ...dora.CallOption) error
		}{
			{"read", func(opts ...dora.CallOption) error {
				_, err := s.kv.ReadSecureMessage(ctx, &kvpb.ReadSecureMessageReq{Key: []byte("k")}, opts...)
				return err
			}},
			{"write", func(opts ...dora.CallOption) error {
				_, err := s.kv.WriteSecureMessage(ctx, &kvpb.WriteSecureMessageReq{Key: []byte("k"), Value: []byte("v")}, opts...)
				return err
			}},
		}
		for _, tc := range calls {
			t.Run(tc.name, func(t *testing.T) {
				if err := tc.call(); err != nil {
					t.Fatalf("first call: %v", err)
				}
				var md metadata.MD
				err := tc.call(dora.Trailer(&md))
				wantCode(t, "second call", err, codes.ResourceExhausted, tc.name)
				ms, perr := strconv.Atoi(md.Get(api.MDRetryAfterMs))
				if perr != nil || ms < 1 || ms > 1000 {
					t.Fatalf("retry-after-ms = %q, want 1..1000 (metadata %v)", md.Get(api.MDRetryAfterMs), md)
				}
				clk.Add(time.Duration(ms) * time.Millisecond)
				if err := tc.call(); err != nil {
					t.Fatalf("after the retry hint: %v", err)
				}
			})
		}
		t.Run("login throttle", func(t *testing.T) {
			for i := range app.DefaultLoginBurst {
				r, err := s.kv.Login(ctx, &kvpb.LoginReq{Username: "mallory", Password: "guess"})
				if err != nil || r.GetStatus().GetCode() != kvpb.CODE_INCORRECT_USERNAME_OR_PASSWORD {
					t.Fatalf("attempt %d: %v %v", i+1, r, err)
				}
			}
			var md metadata.MD
			_, err := s.kv.Login(ctx, &kvpb.LoginReq{Username: "mallory", Password: "guess"}, dora.Trailer(&md))
			wantCode(t, "attempt over the burst", err, codes.ResourceExhausted, "login")
			if md.Get(api.MDRetryAfterMs) == "" {
				t.Fatalf("no %s in %v", api.MDRetryAfterMs, md)
			}
		})
		metric(t, s, `etserver_rpc_rate_limited_total{op="login"} 1`)
		metric(t, s, `etserver_rpc_rate_limited_total{op="read"} 1`)
		metric(t, s, `etserver_rpc_rate_limited_total{op="write"} 1`)
		metric(t, s, `etserver_rpc_calls_total{code="ResourceExhausted",method="/kv.Store/ReadSecureMessage"} 1`)
	})
}

// TestRestartKeepsData: a server restarted on the same data (SQLite directory, or MySQL
// DSN and Redis) still knows the session and the value.
func TestRestartKeepsData(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		clk := newClock()
		st := b.open(t, clk)
		createUser(t, st, "carol", "pw")
		s := startServer(t, st, clk, nil)
		tok := login(t, s, "carol", "pw")
		ctx := withToken(ctxT(t), tok)
		if _, err := s.kv.WriteSecureMessage(ctx, &kvpb.WriteSecureMessageReq{Key: []byte("keep"), Value: []byte("me")}); err != nil {
			t.Fatal(err)
		}
		s.stop()
		st.close()

		st2 := b.open(t, clk)
		s2 := startServer(t, st2, clk, nil)
		r, err := s2.kv.ReadSecureMessage(ctx, &kvpb.ReadSecureMessageReq{Key: []byte("keep")})
		if err != nil || string(r.GetValue()) != "me" {
			t.Fatalf("read after restart: %v %v", r, err)
		}
		login(t, s2, "carol", "pw")
	})
}

// TestTwoInstancesShareSessions: a token from one etserver works on another sharing MySQL
// and Redis, and a value written through one is read through the other.
func TestTwoInstancesShareSessions(t *testing.T) {
	b := mysqlRedisBackend(t)
	clk := newClock()
	stA, stB := b.open(t, clk), b.open(t, clk)
	createUser(t, stA, "dave", "pw")
	a, bb := startServer(t, stA, clk, nil), startServer(t, stB, clk, nil)
	ctx := withToken(ctxT(t), login(t, a, "dave", "pw"))
	if _, err := bb.kv.WriteSecureMessage(ctx, &kvpb.WriteSecureMessageReq{Key: []byte("k"), Value: []byte("via b")}); err != nil {
		t.Fatalf("write on b with a's token: %v", err)
	}
	r, err := a.kv.ReadSecureMessage(ctx, &kvpb.ReadSecureMessageReq{Key: []byte("k")})
	if err != nil || string(r.GetValue()) != "via b" {
		t.Fatalf("read on a: %v %v", r, err)
	}
	if _, err := a.kv.Logout(ctx, &kvpb.LogoutReq{}); err != nil {
		t.Fatal(err)
	}
	_, err = bb.kv.ReadSecureMessage(ctx, &kvpb.ReadSecureMessageReq{Key: []byte("k")})
	wantCode(t, "read on b after logout on a", err, codes.Unauthenticated, "")
}

// TestSessionCache: with app.Options.SessionCacheTTL a logout on the same instance ends the
// session at once; a logout on another instance takes effect here once the cache TTL has
// passed (on the injected clock). Expiry is checked on every call regardless.
func TestSessionCache(t *testing.T) {
	const cacheTTL = 2 * time.Second
	withCache := func(o *app.Options) { o.SessionCacheTTL = cacheTTL }
	t.Run("same instance", func(t *testing.T) {
		forEachBackend(t, func(t *testing.T, b backend) {
			clk := newClock()
			st := b.open(t, clk)
			createUser(t, st, "erin", "pw")
			s := startServer(t, st, clk, withCache)
			ctx := withToken(ctxT(t), login(t, s, "erin", "pw"))
			if _, err := s.kv.ReadSecureMessage(ctx, &kvpb.ReadSecureMessageReq{Key: []byte("k")}); err != nil {
				t.Fatal(err) // now cached
			}
			if _, err := s.kv.Logout(ctx, &kvpb.LogoutReq{}); err != nil {
				t.Fatal(err)
			}
			_, err := s.kv.ReadSecureMessage(ctx, &kvpb.ReadSecureMessageReq{Key: []byte("k")})
			wantCode(t, "read after logout", err, codes.Unauthenticated, "")

			tok2 := login(t, s, "erin", "pw")
			ctx2 := withToken(ctxT(t), tok2)
			if _, err := s.kv.ReadSecureMessage(ctx2, &kvpb.ReadSecureMessageReq{Key: []byte("k")}); err != nil {
				t.Fatal(err)
			}
			clk.Add(time.Hour) // the session TTL: a cached session expires too
			_, err = s.kv.ReadSecureMessage(ctx2, &kvpb.ReadSecureMessageReq{Key: []byte("k")})
			wantCode(t, "read with an expired cached session", err, codes.Unauthenticated, "")
		})
	})
	t.Run("other instance", func(t *testing.T) {
		b := mysqlRedisBackend(t)
		clk := newClock()
		stA, stB := b.open(t, clk), b.open(t, clk)
		createUser(t, stA, "frank", "pw")
		a, bb := startServer(t, stA, clk, withCache), startServer(t, stB, clk, withCache)
		ctx := withToken(ctxT(t), login(t, a, "frank", "pw"))
		if _, err := bb.kv.ReadSecureMessage(ctx, &kvpb.ReadSecureMessageReq{Key: []byte("k")}); err != nil {
			t.Fatal(err) // cached on b
		}
		if _, err := a.kv.Logout(ctx, &kvpb.LogoutReq{}); err != nil {
			t.Fatal(err)
		}
		if _, err := bb.kv.ReadSecureMessage(ctx, &kvpb.ReadSecureMessageReq{Key: []byte("k")}); err != nil {
			t.Fatalf("b within the cache TTL: %v (the documented window)", err)
		}
		clk.Add(cacheTTL)
		_, err := bb.kv.ReadSecureMessage(ctx, &kvpb.ReadSecureMessageReq{Key: []byte("k")})
		wantCode(t, "b after the cache TTL", err, codes.Unauthenticated, "")
	})
}

// TestSessionCacheWatched: with app.Options.SessionCacheWatch on Redis, a logout on one
// instance ends the session cached on another as soon as Redis's invalidation arrives,
// long before the cache TTL (the fake clock never moves here).
func TestSessionCacheWatched(t *testing.T) {
	withCache := func(o *app.Options) { o.SessionCacheTTL, o.SessionCacheWatch = time.Minute, true }
	b := mysqlRedisBackend(t)
	clk := newClock()
	stA, stB := b.open(t, clk), b.open(t, clk)
	createUser(t, stA, "gina", "pw")
	a, bb := startServer(t, stA, clk, withCache), startServer(t, stB, clk, withCache)
	ctx := withToken(ctxT(t), login(t, a, "gina", "pw"))
	for _, s := range []*server{a, bb, bb} {
		if _, err := s.kv.ReadSecureMessage(ctx, &kvpb.ReadSecureMessageReq{Key: []byte("k")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.kv.Logout(ctx, &kvpb.LogoutReq{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := bb.kv.ReadSecureMessage(ctx, &kvpb.ReadSecureMessageReq{Key: []byte("k")})
		if status.Code(err) == codes.Unauthenticated {
			break
		}
		if err != nil {
			t.Fatalf("read on b after logout on a: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("b still accepts the session 5s after a logout on a")
		}
	}
	_, err := a.kv.ReadSecureMessage(ctx, &kvpb.ReadSecureMessageReq{Key: []byte("k")})
	wantCode(t, "read on a after logout on a", err, codes.Unauthenticated, "")
}

// metric fails t unless s's metrics have the line want ("name{labels} value") or, when want
// has no value, a line of that series, within 10 s. dora counts a
// call just after sending its answer, so the client can see the answer before the count:
// metric gathers again until the line shows.
func metric(t *testing.T, s *server, want string) {
	t.Helper()
	var text string
	found := false
	defer func() {
		if !found {
			t.Logf("metrics last gathered:\n%s", text)
		}
	}()
	testkit.WaitFor(t, testkit.Context(t, 10*time.Second), fmt.Sprintf("metric %q", want), func() bool {
		text = metricsText(t, s)
		found = hasLine(text, want)
		return found
	})
}

// hasLine reports whether text has the line want, or a line "want value".
func hasLine(text, want string) bool {
	for _, line := range strings.Split(text, "\n") {
		if line == want || strings.HasPrefix(line, want+" ") {
			return true
		}
	}
	return false
}

// metricsText renders s's counters as "name{labels} value" lines.
func metricsText(t *testing.T, s *server) string {
	t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			name := mf.GetName()
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			v := m.GetCounter().GetValue()
			buf.WriteString(name + " " + strconv.FormatFloat(v, 'g', -1, 64) + "\n")
		}
	}
	return buf.String()
}
