// Package testenv gives tests the real MariaDB/MySQL and Redis named by the environment:
// POCKET_TEST_MYSQL_DSN and POCKET_TEST_REDIS_ADDR. When a variable is missing the test is
// skipped with a message naming it, or fails when CI=true.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
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
