package wire_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seed857a6cbd/pocket/entrytask-server/infra/config"
	"github.com/seed857a6cbd/pocket/entrytask-server/wire"
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
