package redis_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/redis"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testenv"
)

// observer records a watcher's reports as strings: "watched", "lost", "changed a,b".
type observer chan string

func (o observer) SessionsWatched(on bool) {
	if on {
		o <- "watched"
	} else {
		o <- "lost"
	}
}

func (o observer) SessionsChanged(ids []string) { o <- "changed " + strings.Join(ids, ",") }

// next returns the next report other than "lost" when skipLost, failing after a deadline.
func (o observer) next(t *testing.T, skipLost bool) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-o:
			if skipLost && ev == "lost" {
				continue
			}
			return ev
		case <-deadline:
			t.Fatal("no report from WatchSessions within 10s")
		}
	}
}

// logBuffer collects a logger's text output from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestWatchSessions(t *testing.T) {
	addr := testenv.RedisAddr(t)
	var logs logBuffer
	watcher, err := redis.Open(context.Background(), redis.Options{Addr: addr, Prefix: testenv.RedisPrefix(t, addr),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	writer := redis.New(open(t).Client(), watcher.Prefix()) // another instance on the same prefix
	ctx, cancel := context.WithCancel(context.Background())
	obs := make(observer, 100)
	done := make(chan error, 1)
	go func() { done <- watcher.WatchSessions(ctx, obs) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("WatchSessions: %v, want context.Canceled", err)
		}
	}()
	if ev := obs.next(t, true); ev != "watched" {
		t.Fatalf("first report %q, want watched", ev)
	}

	bg := context.Background()
	sess := domain.Session{ID: "s1", UserID: 7, Username: "u", ExpiresAt: time.Now().Add(time.Hour)}
	if err := writer.Put(bg, 7, "k", []byte("v")); err != nil { // not a session: no report
		t.Fatal(err)
	}
	if err := writer.CreateSession(bg, sess); err != nil {
		t.Fatal(err)
	}
	if ev := obs.next(t, false); ev != "changed s1" {
		t.Fatalf("after CreateSession: %q, want changed s1", ev)
	}
	if err := writer.DeleteSession(bg, "s1"); err != nil {
		t.Fatal(err)
	}
	if ev := obs.next(t, false); ev != "changed s1" {
		t.Fatalf("after DeleteSession: %q, want changed s1", ev)
	}
	sess.ID, sess.ExpiresAt = "s2", time.Now().Add(-time.Second) // expired: Redis drops it at once
	if err := writer.CreateSession(bg, sess); err != nil {
		t.Fatal(err)
	}
	if ev := obs.next(t, false); ev != "changed s2" {
		t.Fatalf("after CreateSession of an expired session: %q, want changed s2", ev)
	}

	// A killed watch connection is reported lost, then watched again once re-established.
	list, err := writer.Client().ClientList(bg).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if field(line, "name") == redis.WatchClientName(watcher.Prefix()) {
			if err := writer.Client().Do(bg, "CLIENT", "KILL", "ID", field(line, "id")).Err(); err != nil {
				t.Fatal(err)
			}
			killed++
		}
	}
	if killed != 1 {
		t.Fatalf("%d watch connections named %s in CLIENT LIST, want 1:\n%s", killed, redis.WatchClientName(watcher.Prefix()), list)
	}
	if ev := obs.next(t, false); ev != "lost" {
		t.Fatalf("after CLIENT KILL: %q, want lost", ev)
	}
	if ev := obs.next(t, true); ev != "watched" {
		t.Fatalf("after reconnecting: %q, want watched", ev)
	}
	for _, want := range []string{"session watch lost", "session watch is back"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	sess.ID, sess.ExpiresAt = "s3", time.Now().Add(time.Hour)
	if err := writer.CreateSession(bg, sess); err != nil {
		t.Fatal(err)
	}
	if ev := obs.next(t, false); ev != "changed s3" {
		t.Fatalf("after reconnecting, CreateSession: %q, want changed s3", ev)
	}
}

// field returns the value of name=value in a CLIENT LIST line.
func field(line, name string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			return v
		}
	}
	return ""
}
