package kvfake_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient/kvclienttest"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient/kvfake"
)

func TestFakeSemantics(t *testing.T) {
	ctx := context.Background()
	s := kvfake.New(3, nil)
	s.AddUser("alice", "secret")

	if _, err := s.Login(ctx, "2", "wrong"); !errors.Is(err, kvclient.ErrIncorrectUsernameOrPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := s.Login(ctx, "nobody", "x"); !errors.Is(err, kvclient.ErrIncorrectUsernameOrPassword) {
		t.Fatalf("unknown user: %v", err)
	}
	tok, err := s.Login(ctx, "alice", "secret")
	if err != nil || len(tok) != 32 {
		t.Fatalf("login = %q, %v", tok, err)
	}
	if _, err := s.Read(ctx, "", "alice", "k"); !errors.Is(err, kvclient.ErrUnauthenticated) {
		t.Fatalf("read without token: %v", err)
	}
	if _, err := s.Read(ctx, "forged", "alice", "k"); !errors.Is(err, kvclient.ErrUnauthenticated) {
		t.Fatalf("read with forged token: %v", err)
	}
	if _, err := s.Read(ctx, tok, "2", "k"); !errors.Is(err, kvclient.ErrUnauthenticated) {
		t.Fatalf("read as another user: %v", err)
	}
	if _, err := s.Read(ctx, tok, "alice", "k"); !errors.Is(err, kvclient.ErrKeyNotExist) {
		t.Fatalf("read of missing key: %v", err)
	}
	if err := s.Write(ctx, tok, "alice", "k", "v"); err != nil {
		t.Fatalf("write: %v", err)
	}
	if v, err := s.Read(ctx, tok, "", "k"); err != nil || v != "v" {
		t.Fatalf("read = %q, %v", v, err)
	}
	tok2, _ := s.Login(ctx, "2", "2")
	if _, err := s.Read(ctx, tok2, "2", "k"); !errors.Is(err, kvclient.ErrKeyNotExist) {
		t.Fatalf("namespaces are not per user: %v", err)
	}
	if got := s.Calls(kvfake.MethodRead); got != 6 {
		t.Fatalf("Calls(read) = %d, want 6", got)
	}
	_ = s.Close()
	if _, err := s.Login(ctx, "1", "1"); !errors.Is(err, kvclient.ErrUnavailable) {
		t.Fatalf("login after close: %v", err)
	}
}

// TestConformance holds the fake to the same contract as the real client.
func TestConformance(t *testing.T) {
	srv := kvfake.New(kvclienttest.Users, nil)
	kvclienttest.Run(t, func(*testing.T) kvclient.Client {
		return &perClient{Server: srv}
	})
}

// perClient is one client of a shared fake server: its own Close, the server's data.
type perClient struct {
	*kvfake.Server
	closed atomic.Bool
}

func (c *perClient) check() error {
	if c.closed.Load() {
		return kvclient.Errorf(kvclient.Code(codes.Unavailable), "client is closed")
	}
	return nil
}

func (c *perClient) Login(ctx context.Context, u, p string) (string, error) {
	if err := c.check(); err != nil {
		return "", err
	}
	return c.Server.Login(ctx, u, p)
}

func (c *perClient) Close() error { c.closed.Store(true); return nil }
