package kv_test

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

	"github.com/seed857a6cbd/pocket/benchmarks/kv"
)

// TestStaleDatabases checks that StartServer drops the database (and Redis keys) a killed
// run left behind, and leaves alone a live run's database and databases of other names.
func TestStaleDatabases(t *testing.T) {
	dsn, addr := os.Getenv(mysqlVar), os.Getenv(redisVar)
	if dsn == "" || addr == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s and %s are required when CI=true", mysqlVar, redisVar)
		}
		t.Skipf("%s / %s not set: skipping", mysqlVar, redisVar)
	}
	cfg, err := drv.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	base := cfg.DBName
	if base == "" {
		base = "pocket"
	}
	admin := cfg.Clone()
	admin.DBName = ""
	connector, err := drv.NewConnector(admin)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() }) // after the drops below: cleanups run last first
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	exists := func(name string) bool {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	create := func(name string) {
		t.Helper()
		if _, err := db.ExecContext(ctx, "CREATE DATABASE `"+name+"`"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if _, err := db.Exec("DROP DATABASE IF EXISTS `" + name + "`"); err != nil {
				t.Error(err)
			}
		})
	}

	deadToken, liveToken := token(), token()
	dead, live, other := base+"_kvbench_"+deadToken, base+"_kvbench_"+liveToken, base+"_kvbench_manual_"+token()
	create(dead)
	create(other)
	// A live run: its lock is held by a session of its own.
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT GET_LOCK(?, 0)", live); err != nil {
		t.Fatal(err)
	}
	create(live)
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	deadKey := "kvbench:" + deadToken + ":s:x"
	if err := rdb.Set(ctx, deadKey, "v", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Del(context.Background(), deadKey) })

	b := startServer(t, kv.StoreOptions{Binary: etserverBin, Users: 1, MySQLDSN: dsn, RedisAddr: addr})
	if exists(dead) {
		t.Errorf("the dead run's database %s is still there", dead)
	}
	if n, err := rdb.Exists(ctx, deadKey).Result(); err != nil || n != 0 {
		t.Errorf("the dead run's Redis key %s: exists %d, %v", deadKey, n, err)
	}
	if !exists(live) {
		t.Errorf("the live run's database %s was dropped", live)
	}
	if !exists(other) {
		t.Errorf("database %s, not named as a run's, was dropped", other)
	}
	ours, err := drv.ParseDSN(b.MySQLDSN)
	if err != nil {
		t.Fatal(err)
	}
	if !exists(ours.DBName) {
		t.Fatalf("the backend's database %s does not exist", ours.DBName)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if exists(ours.DBName) {
		t.Errorf("Close left the backend's database %s", ours.DBName)
	}
}

func token() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
