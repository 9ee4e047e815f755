// Package kvclienttest is the conformance suite of kvclient.Client implementations: the
// behaviour etclient relies on, checked against a live server.
//
// kvfake runs it, and so does the dora-backed Client against a real etserver on loopback
// (package e2e), so the fake and the real server are held to the same contract.
package kvclienttest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
)

// Users is how many seeded users the suite needs: DefaultUsers, or the ones given to RunAs,
// whose passwords equal their names (as `etserver seed --users N` creates them).
const Users = 3

// concurrentCallers and concurrentRounds shape the concurrency check: each caller writes
// then reads its own key concurrentRounds times.
const (
	concurrentCallers = 16
	concurrentRounds  = 5
)

// callTimeout bounds each call the suite makes.
const callTimeout = 10 * time.Second

// DefaultUsers are the users Run logs in as.
var DefaultUsers = [Users]string{"1", "2", "3"}

// Run checks the contract of kvclient.Client as DefaultUsers. newClient returns a client
// connected to a server holding the seeded users; Run closes every client it gets. Keys are
// prefixed with a per-run value so a persistent server can be reused.
func Run(t *testing.T, newClient func(t *testing.T) kvclient.Client) {
	t.Helper()
	RunAs(t, DefaultUsers, newClient)
}

// RunAs is Run as the given three distinct users, whose passwords must equal their names
// (for a server with per-user quotas, pick users allowed a burst of about 100 writes and
// reads: the concurrency check writes and reads 80 times each as users[0] at once).
func RunAs(t *testing.T, users [Users]string, newClient func(t *testing.T) kvclient.Client) {
	t.Helper()
	u1, u2, u3 := users[0], users[1], users[2]
	prefix := "kvclienttest-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
	ctx := func(t *testing.T) context.Context {
		c, cancel := context.WithTimeout(context.Background(), callTimeout)
		t.Cleanup(cancel)
		return c
	}
	client := func(t *testing.T) kvclient.Client {
		c := newClient(t)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	login := func(t *testing.T, c kvclient.Client, user string) string {
		t.Helper()
		tok, err := c.Login(ctx(t), user, user)
		if err != nil {
			t.Fatalf("Login(%s): %v", user, err)
		}
		if tok == "" {
			t.Fatalf("Login(%s) returned an empty token", user)
		}
		return tok
	}
	wantCode := func(t *testing.T, what string, err error, codes ...kvclient.Code) {
		t.Helper()
		got := kvclient.CodeOf(err)
		for _, c := range codes {
			if got == c {
				var e *kvclient.Error
				if !errors.As(err, &e) {
					t.Fatalf("%s: error %v is not a *kvclient.Error", what, err)
				}
				return
			}
		}
		t.Fatalf("%s: error %v (code %v), want code %v", what, err, got, codes)
	}

	t.Run("login rejects a wrong password and an unknown user alike", func(t *testing.T) {
		c := client(t)
		_, err1 := c.Login(ctx(t), u1, "not-the-password")
		wantCode(t, "wrong password", err1, kvclient.CodeIncorrectUsernameOrPassword)
		_, err2 := c.Login(ctx(t), prefix+"nobody", "x")
		wantCode(t, "unknown user", err2, kvclient.CodeIncorrectUsernameOrPassword)
	})
	t.Run("write then read with a session", func(t *testing.T) {
		c := client(t)
		tok := login(t, c, u1)
		key := prefix + "k"
		if err := c.Write(ctx(t), tok, u1, key, "v1"); err != nil {
			t.Fatalf("Write: %v", err)
		}
		if v, err := c.Read(ctx(t), tok, u1, key); err != nil || v != "v1" {
			t.Fatalf("Read = %q, %v; want v1", v, err)
		}
		if err := c.Write(ctx(t), tok, u1, key, "v2"); err != nil {
			t.Fatalf("overwrite: %v", err)
		}
		if v, err := c.Read(ctx(t), tok, u1, key); err != nil || v != "v2" {
			t.Fatalf("Read after overwrite = %q, %v; want v2", v, err)
		}
	})
	t.Run("sessions are refused when empty or forged", func(t *testing.T) {
		c := client(t)
		key := prefix + "k"
		_, err := c.Read(ctx(t), "", u1, key)
		wantCode(t, "read without token", err, kvclient.Code(codes.Unauthenticated))
		err = c.Write(ctx(t), "", u1, key, "x")
		wantCode(t, "write without token", err, kvclient.Code(codes.Unauthenticated))
		_, err = c.Read(ctx(t), "00000000000000000000000000000000", u1, key)
		wantCode(t, "read with a forged token", err, kvclient.Code(codes.Unauthenticated))
	})
	t.Run("a session is only its user's", func(t *testing.T) {
		c := client(t)
		tok := login(t, c, u2)
		_, err := c.Read(ctx(t), tok, u3, prefix+"k")
		wantCode(t, "read as another user", err, kvclient.Code(codes.Unauthenticated), kvclient.Code(codes.PermissionDenied))
	})
	t.Run("each user has their own keys", func(t *testing.T) {
		c := client(t)
		t2, t3 := login(t, c, u2), login(t, c, u3)
		key := prefix + "own"
		if err := c.Write(ctx(t), t2, u2, key, "two"); err != nil {
			t.Fatal(err)
		}
		_, err := c.Read(ctx(t), t3, u3, key)
		wantCode(t, "read of another user's key", err, kvclient.CodeKeyNotExist)
	})
	t.Run("missing key", func(t *testing.T) {
		c := client(t)
		tok := login(t, c, u1)
		_, err := c.Read(ctx(t), tok, u1, prefix+"never-written")
		wantCode(t, "read of a missing key", err, kvclient.CodeKeyNotExist)
	})
	t.Run("any non-empty key and value", func(t *testing.T) {
		c := client(t)
		tok := login(t, c, u1)
		for i, kv := range [][2]string{{"a", "a"}, {"with space/and:colon", "üñí©ødé"}, {"long", string(make([]byte, 2000))}} {
			key := prefix + strconv.Itoa(i) + kv[0]
			if err := c.Write(ctx(t), tok, u1, key, kv[1]); err != nil {
				t.Fatalf("Write(%q): %v", key, err)
			}
			if v, err := c.Read(ctx(t), tok, u1, key); err != nil || v != kv[1] {
				t.Fatalf("Read(%q) = %d bytes, %v; want %d bytes", key, len(v), err, len(kv[1]))
			}
		}
	})
	t.Run("concurrent use", func(t *testing.T) {
		c := client(t)
		tok := login(t, c, u1)
		var wg sync.WaitGroup
		errs := make(chan error, concurrentCallers)
		for g := range concurrentCallers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := fmt.Sprintf("%sconc-%d", prefix, g)
				for i := range concurrentRounds {
					v := strconv.Itoa(i)
					if err := c.Write(ctx(t), tok, u1, key, v); err != nil {
						errs <- err
						return
					}
					if got, err := c.Read(ctx(t), tok, u1, key); err != nil || got != v {
						errs <- fmt.Errorf("read %q, %v; want %q", got, err, v)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})
	t.Run("a canceled context ends the call", func(t *testing.T) {
		c := client(t)
		cctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Login(cctx, u1, u1)
		if code := kvclient.CodeOf(err); code != kvclient.Code(codes.Canceled) {
			t.Fatalf("Login with a canceled context: %v (code %v), want CANCELED", err, code)
		}
	})
	t.Run("close", func(t *testing.T) {
		c := newClient(t)
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		_, err := c.Login(ctx(t), u1, u1)
		wantCode(t, "login after Close", err, kvclient.Code(codes.Unavailable))
	})
}
