package wire_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	goredis "github.com/redis/go-redis/v9"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/config"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testenv"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/wire"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestJSONLogOneStream: with log.format json, go-redis's own log lines (here: a dial that
// fails) arrive as JSON records of the same logger, and durations carry their unit.
func TestJSONLogOneStream(t *testing.T) {
	cfg, err := config.Load(config.Sources{Flags: map[string]any{"log.format": "json"}})
	if err != nil {
		t.Fatal(err)
	}
	var buf lockedBuffer
	log := wire.NewLogger(cfg, &buf)
	wire.RouteDriverLogs(log)
	log.Info("timed", "took", 1500*time.Microsecond)

	// A Redis client whose dials fail logs through go-redis's logger.
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second,
		Dialer: func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("refused by the test") }})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = rdb.Ping(ctx).Err()
	cancel()
	rdb.Close()

	var sawTook, sawRedis bool
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		if rec["took"] != nil {
			sawTook = rec["took"] == "1.5ms"
		}
		if rec["component"] == "redis" && strings.Contains(rec["msg"].(string), "refused by the test") {
			sawRedis = true
		}
	}
	if !sawRedis {
		t.Errorf("go-redis's dial failure is not a JSON record with component=redis:\n%s", buf.String())
	}
	if !sawTook {
		t.Errorf("took not written as \"1.5ms\":\n%s", buf.String())
	}
}

// TestMySQLDriverLogRouted: the MySQL driver's own line "closing bad idle connection"
// (a pooled connection the server has closed) arrives as a JSON record with
// component=mysql. Needs POCKET_TEST_MYSQL_DSN.
func TestMySQLDriverLogRouted(t *testing.T) {
	dsn := testenv.MySQLDSN(t)
	cfg, err := config.Load(config.Sources{Flags: map[string]any{"log.format": "json"}})
	if err != nil {
		t.Fatal(err)
	}
	var buf lockedBuffer
	wire.RouteDriverLogs(wire.NewLogger(cfg, &buf)) // before the DSN is parsed: the driver copies its logger then
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxIdleConns(1)
	db.SetMaxOpenConns(2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Two connections: the first goes back to the pool idle, the second kills it there.
	first, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	killer, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var id, kid int64
	if err := first.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		t.Fatal(err)
	}
	if err := killer.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&kid); err != nil || kid == id {
		t.Fatalf("second connection: id %d (first %d): %v", kid, id, err)
	}
	first.Close() // idle in the pool
	if _, err := killer.ExecContext(ctx, "KILL ?", id); err != nil {
		t.Fatal(err)
	}
	for {
		var n int
		if err := killer.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("connection %d still listed after KILL", id)
		}
	}
	killer.Close()
	// The pool hands out the killed idle connection first; the driver finds it closed, logs,
	// and the query goes through on a new one.
	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["component"] == "mysql" &&
			strings.Contains(fmt.Sprint(rec["msg"]), "closing bad idle connection") {
			return
		}
	}
	t.Fatalf("no component=mysql record for the bad idle connection:\n%s", buf.String())
}
