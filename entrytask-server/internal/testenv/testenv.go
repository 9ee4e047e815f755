// Package testenv gives tests the real MariaDB/MySQL and Redis named by the environment:
// POCKET_TEST_MYSQL_DSN and POCKET_TEST_REDIS_ADDR. When a variable is missing the test is
// skipped with a message naming it, or fails when CI=true.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	drv "github.com/go-sql-driver/mysql"
	goredis "github.com/redis/go-redis/v9"
)

// The environment variables read.
const (
	MySQLVar = "POCKET_TEST_MYSQL_DSN"
	RedisVar = "POCKET_TEST_REDIS_ADDR"
)

func need(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("testenv: %s is not set (required when CI=true)", name)
		}
		t.Skipf("testenv: %s is not set; skipping (export it to run against the real service)", name)
	}
	return v
}

// Random returns n random bytes as hex, for unique names.
func Random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// MySQLDSN creates a fresh database pocket_test_<random> on the server of
// POCKET_TEST_MYSQL_DSN, drops it when the test ends, and returns a DSN naming it.
func MySQLDSN(t testing.TB) string {
	t.Helper()
	cfg, err := drv.ParseDSN(need(t, MySQLVar))
	if err != nil {
		t.Fatalf("testenv: parsing %s: %v", MySQLVar, err)
	}
	name := "pocket_test_" + Random(6)
	admin := cfg.Clone()
	admin.DBName = ""
	conn, err := drv.NewConnector(admin)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	db := sql.OpenDB(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		db.Close()
		t.Fatalf("testenv: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("testenv: dropping database %s: %v", name, err)
		}
		db.Close()
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}

// RedisAddr returns POCKET_TEST_REDIS_ADDR.
func RedisAddr(t testing.TB) string {
	t.Helper()
	return need(t, RedisVar)
}

// RedisPrefix returns a unique key prefix and deletes every key under it (and the rate
// limiter's keys for it) when the test ends.
func RedisPrefix(t testing.TB, addr string) string {
	t.Helper()
	prefix := "pocket_test_" + Random(6) + ":"
	t.Cleanup(func() {
		rdb := goredis.NewClient(&goredis.Options{Addr: addr})
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, pattern := range []string{prefix + "*", "rate:" + prefix + "*"} {
			iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
			var keys []string
			for iter.Next(ctx) {
				keys = append(keys, iter.Val())
			}
			if err := iter.Err(); err != nil {
				t.Errorf("testenv: scanning %s: %v", pattern, err)
				return
			}
			if len(keys) > 0 {
				if err := rdb.Del(ctx, keys...).Err(); err != nil {
					t.Errorf("testenv: deleting test keys: %v", err)
				}
			}
		}
	})
	return prefix
}

// The environment variables naming the scaled-out Redis deployments scripts/test.sh starts
// with scripts/redis-scale.sh: the masters of a Redis Cluster, and the sentinels watching
// a primary named RedisMasterName, each a comma-separated host:port list.
const (
	RedisClusterVar   = "POCKET_TEST_REDIS_CLUSTER"
	RedisSentinelsVar = "POCKET_TEST_REDIS_SENTINELS"
	RedisMasterName   = "pocket"
)

// RedisMode is one way tests reach Redis: a single node, a cluster or through sentinels.
// Exactly one of Addr and Addrs is set, as in the store's options.
type RedisMode struct {
	Name       string // "single", "cluster" or "sentinel"
	Addr       string
	Addrs      []string
	MasterName string
	envVar     string
}

// RedisModes returns the three modes; Need skips (or, with CI=true, fails) a test whose
// mode's variable is not set.
func RedisModes() []RedisMode {
	split := func(v string) []string {
		if v == "" {
			return nil
		}
		return strings.Split(v, ",")
	}
	return []RedisMode{
		{Name: "single", Addr: os.Getenv(RedisVar), envVar: RedisVar},
		{Name: "cluster", Addrs: split(os.Getenv(RedisClusterVar)), envVar: RedisClusterVar},
		{Name: "sentinel", Addrs: split(os.Getenv(RedisSentinelsVar)), MasterName: RedisMasterName, envVar: RedisSentinelsVar},
	}
}

// Need skips or fails t when m names no address because its environment variable is not
// set.
func (m RedisMode) Need(t testing.TB) {
	t.Helper()
	if m.Addr == "" && len(m.Addrs) == 0 {
		need(t, m.envVar)
	}
}

// Client returns a new client of m's deployment; the caller closes it.
func (m RedisMode) Client() goredis.UniversalClient {
	addrs := m.Addrs
	if m.Addr != "" {
		addrs = []string{m.Addr}
	}
	return goredis.NewUniversalClient(&goredis.UniversalOptions{Addrs: addrs, MasterName: m.MasterName,
		IsClusterMode: m.Name == "cluster"})
}

// Prefix returns a unique key prefix in m's deployment and deletes every key under it
// (and the rate limiter's keys for it) when the test ends.
func (m RedisMode) Prefix(t testing.TB) string {
	t.Helper()
	m.Need(t)
	prefix := "pocket_test_" + Random(6) + ":"
	t.Cleanup(func() {
		rdb := m.Client()
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		clean := func(ctx context.Context, c *goredis.Client) error {
			for _, pattern := range []string{prefix + "*", "rate:" + prefix + "*"} {
				iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
				for iter.Next(ctx) {
					// One key at a time: on a cluster, keys of one node may still hash to
					// different slots.
					if err := c.Del(ctx, iter.Val()).Err(); err != nil {
						return err
					}
				}
				if err := iter.Err(); err != nil {
					return err
				}
			}
			return nil
		}
		var err error
		switch c := rdb.(type) {
		case *goredis.ClusterClient:
			err = c.ForEachMaster(ctx, clean)
		case *goredis.Client:
			err = clean(ctx, c)
		}
		if err != nil {
			t.Errorf("testenv: deleting test keys under %s: %v", prefix, err)
		}
	})
	return prefix
}

// ScaleVar turns on the failover tests (make test-scale), which start and kill their own
// Redis deployments and etserver processes.
const ScaleVar = "POCKET_TEST_SCALE"

// NeedScale skips t unless POCKET_TEST_SCALE=1.
func NeedScale(t testing.TB) {
	t.Helper()
	if os.Getenv(ScaleVar) != "1" {
		t.Skipf("testenv: %s is not 1; the failover tests run with make test-scale", ScaleVar)
	}
}

// Deployment is a Redis deployment scripts/redis-scale.sh started for one test.
type Deployment struct {
	Dir   string            // the script's directory: <port>.pid, <port>.log, data
	Facts map[string]string // what the script printed: addrs, replicas; or sentinels, master_name, primary, replica
}

// StartRedis runs scripts/redis-scale.sh kind ("cluster" or "sentinel") in a temporary
// directory and stops every process it started when the test ends. The script bounds its
// own waits (30 s each).
func StartRedis(t testing.TB, kind string) *Deployment {
	t.Helper()
	script := repoFile(t, "scripts/redis-scale.sh")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", script, kind, dir).Output()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "bash", script, "stop", dir).CombinedOutput(); err != nil {
			t.Errorf("testenv: stopping the %s: %v\n%s", kind, err, out)
		}
	})
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("testenv: %s %s: %v\n%s", script, kind, err, ee.Stderr)
		}
		t.Fatalf("testenv: %s %s: %v", script, kind, err)
	}
	d := &Deployment{Dir: dir, Facts: map[string]string{}}
	for line := range strings.Lines(string(out)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			d.Facts[k] = v
		}
	}
	return d
}

// Kill sends SIGKILL to the redis-server of the deployment listening on addr (host:port).
func (d *Deployment) Kill(t testing.TB, addr string) {
	t.Helper()
	_, port, _ := strings.Cut(addr, ":")
	b, err := os.ReadFile(filepath.Join(d.Dir, port+".pid"))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("testenv: pid file of %s: %v", addr, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("testenv: killing redis-server %d (%s): %v", pid, addr, err)
	}
}

// repoFile returns the path of a file of the repository, looked for in the working
// directory and its parents.
func repoFile(t testing.TB, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("testenv: %s not found above the working directory", rel)
		}
		dir = parent
	}
}
