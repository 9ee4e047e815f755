package cli

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/bench"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient/kvfake"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

// harness runs the command line against kvfake, the in-memory stand-in for etserver, for
// tests that need exact control (virtual time, injected failures, counted calls); package
// e2e runs the same commands against the real etserver.
type harness struct {
	srv      *kvfake.Server
	clock    bench.Clock
	terminal bool
	dialErr  error

	mu     sync.Mutex
	dialed []kvclient.Options
	logins []string // user of every Login call
	closes int

	stdout, stderr bytes.Buffer
}

func newHarness(t *testing.T, seed int, hook kvfake.Hook) *harness {
	t.Helper()
	h := &harness{}
	h.srv = kvfake.New(seed, func(ctx context.Context, method, user string) error {
		if method == kvfake.MethodLogin {
			h.mu.Lock()
			h.logins = append(h.logins, user)
			h.mu.Unlock()
		}
		if hook != nil {
			return hook(ctx, method, user)
		}
		return nil
	})
	return h
}

// conn is the harness's client: the fake server, with Close counted instead of closing it.
type conn struct {
	*kvfake.Server
	h *harness
}

func (c conn) Close() error {
	c.h.mu.Lock()
	c.h.closes++
	c.h.mu.Unlock()
	return nil
}

func (h *harness) env() Env {
	return Env{
		Stdout: &h.stdout,
		Stderr: &h.stderr,
		Dial: func(_ context.Context, o kvclient.Options) (kvclient.Client, error) {
			h.mu.Lock()
			h.dialed = append(h.dialed, o)
			h.mu.Unlock()
			if h.dialErr != nil {
				return nil, h.dialErr
			}
			return conn{h.srv, h}, nil
		},
		Clock:      h.clock,
		IsTerminal: func() bool { return h.terminal },
	}
}

// run runs etclient with args and returns its exit status.
func (h *harness) run(args ...string) int {
	h.stdout.Reset()
	h.stderr.Reset()
	return Run(context.Background(), append([]string{"etclient"}, args...), h.env())
}

// seedValue logs user in on the fake directly and stores key=value.
func (h *harness) seedValue(t *testing.T, user, key, value string) {
	t.Helper()
	ctx := context.Background()
	tok, err := h.srv.Login(ctx, user, user)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Write(ctx, tok, user, key, value); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	h.logins = nil
	h.mu.Unlock()
}

func (h *harness) loginUsers() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.logins...)
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
