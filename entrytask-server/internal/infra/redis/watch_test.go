package redis_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/redis"
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

// TestWatchSessions: in every mode, a change to a session by another instance is
// reported (on a cluster by the watch on the session's master: the sessions below land
// on all three), and a killed watch connection is reported lost, then watched again.
func TestWatchSessions(t *testing.T) { inModes(t, testWatchSessions) }

func testWatchSessions(t *testing.T, m testenv.RedisMode) {
	var logs logBuffer
	watcher := openIn(t, m, redis.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	writer := redis.New(openIn(t, m, redis.Options{}).Client(), watcher.Prefix()) // another instance on the same prefix
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
	if err := writer.Put(bg, 7, "k", []byte("v")); err != nil { // not a session: no report
		t.Fatal(err)
	}
	// Nine sessions: on a cluster, their keys hash to slots of every master (checked).
	masters := map[string]bool{}
	for i := range 9 {
		sess := domain.Session{ID: "s" + strconv.Itoa(i), UserID: 7, Username: "u", ExpiresAt: time.Now().Add(time.Hour)}
		if err := writer.CreateSession(bg, sess); err != nil {
			t.Fatal(err)
		}
		if ev := obs.next(t, false); ev != "changed "+sess.ID {
			t.Fatalf("after CreateSession: %q, want changed %s", ev, sess.ID)
		}
		if cc, ok := writer.Client().(*goredis.ClusterClient); ok {
			node, err := cc.MasterForKey(bg, watcher.Prefix()+"s:"+sess.ID)
			if err != nil {
				t.Fatal(err)
			}
			masters[node.Options().Addr] = true
		}
	}
	if m.Name == "cluster" && len(masters) != len(m.Addrs) {
		t.Fatalf("the sessions landed on %d masters, want all %d: pick other ids", len(masters), len(m.Addrs))
	}
	if err := writer.DeleteSession(bg, "s1"); err != nil {
		t.Fatal(err)
	}
	if ev := obs.next(t, false); ev != "changed s1" {
		t.Fatalf("after DeleteSession: %q, want changed s1", ev)
	}
	sess := domain.Session{ID: "x2", UserID: 7, Username: "u", ExpiresAt: time.Now().Add(-time.Second)} // expired: Redis drops it at once
	if err := writer.CreateSession(bg, sess); err != nil {
		t.Fatal(err)
	}
	if ev := obs.next(t, false); ev != "changed x2" {
		t.Fatalf("after CreateSession of an expired session: %q, want changed x2", ev)
	}

	// A killed watch connection (on a cluster, every master's) is reported lost, then
	// watched again once re-established.
	killed, nodes := killWatch(t, writer.Client(), redis.WatchClientName(watcher.Prefix()))
	if killed != nodes {
		t.Fatalf("%d watch connections named %s on %d nodes, want one per node", killed, redis.WatchClientName(watcher.Prefix()), nodes)
	}
	// The expired session may be reported twice (its write and its expiry each
	// invalidate the key; on a cluster the two can come as separate messages), the second
	// possibly after the kill or after the reconnection.
	ev := obs.next(t, false)
	for ev == "changed x2" {
		ev = obs.next(t, false)
	}
	if ev != "lost" {
		t.Fatalf("after CLIENT KILL: %q, want lost", ev)
	}
	// On a cluster a re-subscribed master passes changes on before every master is back,
	// so the duplicate can also come here.
	ev = obs.next(t, true)
	for ev == "changed x2" {
		ev = obs.next(t, true)
	}
	if ev != "watched" {
		t.Fatalf("after reconnecting: %q, want watched", ev)
	}
	for _, want := range []string{"session watch lost", "session watch is back"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	sess.ID, sess.ExpiresAt = "x3", time.Now().Add(time.Hour)
	if err := writer.CreateSession(bg, sess); err != nil {
		t.Fatal(err)
	}
	if ev := obs.next(t, false); ev != "changed x3" {
		t.Fatalf("after reconnecting, CreateSession: %q, want changed x3", ev)
	}
}

// killWatch kills the connections named name on every node holding data (the masters of
// a cluster, else the one node) and returns how many it found on how many nodes. It lists
// every node before it kills any: on a cluster the watcher closes its other connections
// as soon as one is killed, so listing and killing node by node would miss them.
func killWatch(t *testing.T, rdb goredis.UniversalClient, name string) (killed, nodes int) {
	t.Helper()
	type target struct {
		c  *goredis.Client
		id string
	}
	var (
		mu      sync.Mutex
		targets []target
	)
	list := func(ctx context.Context, c *goredis.Client) error {
		list, err := c.ClientList(ctx).Result()
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		nodes++
		for line := range strings.SplitSeq(list, "\n") {
			if field(line, "name") == name {
				targets = append(targets, target{c, field(line, "id")})
			}
		}
		return nil
	}
	ctx := context.Background()
	var err error
	switch c := rdb.(type) {
	case *goredis.ClusterClient:
		err = c.ForEachMaster(ctx, list)
	case *goredis.Client:
		err = list(ctx, c)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		// After the first kill the watcher may already have closed the others itself.
		if err := tg.c.Do(ctx, "CLIENT", "KILL", "ID", tg.id).Err(); err != nil && !strings.Contains(err.Error(), "No such client") {
			t.Fatal(err)
		}
	}
	return len(targets), nodes
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
