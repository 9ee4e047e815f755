package sqlite_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/sqlite"
)

const (
	childDirVar  = "ETSERVER_SQLITE_CHILD_DIR"
	childSyncVar = "ETSERVER_SQLITE_CHILD_SYNC"
	childWrites  = 50
)

// TestKill9Child is the child process of TestKill9KeepsAcknowledgedWrites: it writes,
// prints "ack <i>" after each Put returns, then blocks until it is killed.
func TestKill9Child(t *testing.T) {
	dir := os.Getenv(childDirVar)
	if dir == "" {
		t.Skip("child process of TestKill9KeepsAcknowledgedWrites only")
	}
	s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: dir, Synchronous: os.Getenv(childSyncVar)})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	for i := range childWrites {
		if err := s.Put(context.Background(), 1, fmt.Sprint("key", i), []byte(fmt.Sprint("value", i))); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println("ack", i)
	}
	fmt.Println("done")
	select {} // wait for SIGKILL, never closing the store
}

func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	for _, mode := range []string{"FULL", "NORMAL"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Child$", "-test.count=1")
			cmd.Env = append(os.Environ(), childDirVar+"="+dir, childSyncVar+"="+mode)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			acked := -1
			sc := bufio.NewScanner(out)
			timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
			defer timer.Stop()
			for sc.Scan() {
				line := sc.Text()
				if strings.HasPrefix(line, "error") {
					t.Errorf("child: %s", line)
				}
				var i int
				if _, err := fmt.Sscanf(line, "ack %d", &i); err == nil {
					acked = i
				}
				if line == "done" {
					break
				}
			}
			if err := cmd.Process.Kill(); err != nil { // SIGKILL: no cleanup runs in the child
				t.Fatal(err)
			}
			cmd.Wait()
			if acked != childWrites-1 {
				t.Fatalf("child acknowledged %d writes, want %d", acked+1, childWrites)
			}
			s := open(t, dir)
			defer s.Close()
			for i := 0; i <= acked; i++ {
				v, err := s.Get(context.Background(), 1, fmt.Sprint("key", i))
				if err != nil || string(v) != fmt.Sprint("value", i) {
					t.Fatalf("acknowledged write %d lost after kill -9: %q %v", i, v, err)
				}
			}
		})
	}
}

func TestOpenOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    sqlite.Options
		wantErr string
	}{
		{"no dir", sqlite.Options{}, "data directory is empty"},
		{"bad synchronous", sqlite.Options{Dir: t.TempDir(), Synchronous: "OFF"}, `synchronous "OFF"`},
		{"lower case normal", sqlite.Options{Dir: t.TempDir(), Synchronous: "normal"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sqlite.Open(context.Background(), tc.opts)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Open: %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestMigrateIdempotent(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ran, err := s.Migrate(context.Background())
	if err != nil || len(ran) != 0 {
		t.Fatalf("second Migrate ran %v, %v; want nothing", ran, err)
	}
}

func TestSessionExpiryWithClock(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: t.TempDir(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.CreateSession(ctx, domain.Session{ID: "a", UserID: 1, Username: "u", ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByID(ctx, "a"); err != nil {
		t.Fatalf("live session: %v", err)
	}
	now = now.Add(time.Minute)
	if _, err := s.SessionByID(ctx, "a"); !errors.Is(err, domain.ErrSessionNotFound) {
		t.Fatalf("session at its expiry: %v, want ErrSessionNotFound", err)
	}
	// A new session sweeps the expired one away.
	if err := s.CreateSession(ctx, domain.Session{ID: "b", UserID: 1, Username: "u", ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.DB().Get(&n, `SELECT COUNT(*) FROM sessions`); err != nil || n != 1 {
		t.Fatalf("sessions after sweep: %d %v, want 1", n, err)
	}
}
