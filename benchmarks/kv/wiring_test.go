package kv_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/seed857a6cbd/pocket/entrytask-server/api"
	"github.com/seed857a6cbd/pocket/entrytask-server/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/config"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/mysql"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/ratelimit"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/redis"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/sqlite"
)

// TestWiringUpToDate guards OpenBackend, a copy of etserver's wiring (cmd/etserver is a
// main package and cannot be imported): when an options struct it fills gains or loses a
// field, or the configuration a key, etserver's wiring has probably changed too, and the benchmark would silently
// measure another configuration. Bring kv/store.go (and kv/grpc.go, the mirror of
// entrytask-server/api) in line with cmd/etserver/wire.go and serve.go, then update the
// lists here.
func TestWiringUpToDate(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want []string
	}{
		{app.Options{}, []string{"Accounts", "Quotas", "Sessions", "KV", "Limiter", "SessionTTL", "SessionCacheTTL",
			"SessionCacheWatch", "ValueMaxBytes", "DefaultQuota", "QuotaCacheSize", "QuotaCacheTTL", "LoginRate",
			"LoginBurst", "PasswordParams", "Now"}},
		{api.Options{}, []string{"Service", "Logger", "Metrics"}},
		{sqlite.Options{}, []string{"Dir", "FileName", "Synchronous", "MaxOpenConns", "BusyTimeout", "Now"}},
		{mysql.Options{}, []string{"DSN", "MaxOpenConns", "MaxIdleConns", "ConnMaxLifetime"}},
		{redis.Options{}, []string{"Addr", "Password", "DB", "PoolSize", "Prefix", "DisableAutoPipeline", "Logger"}},
		{ratelimit.Options{}, []string{"MaxKeys", "Now"}},
	} {
		typ := reflect.TypeOf(tc.v)
		var got []string
		for i := range typ.NumField() {
			got = append(got, typ.Field(i).Name)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s has fields %v, the benchmark's wiring knows %v: see this test's comment", typ, got, tc.want)
		}
	}
	// A new configuration key may be one serve or the wiring reads (gc_percent was).
	var keys []string
	for k := range config.Defaults() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"admin_listen", "data_dir", "gc_percent", "kv.value_max_bytes", "listen", "log.format", "log.level",
		"login.burst", "login.rate", "mysql.conn_max_lifetime", "mysql.dsn", "mysql.max_idle_conns", "mysql.max_open_conns",
		"password.memory_kib", "password.threads", "password.time", "quota.cache_size", "quota.cache_ttl", "quota.default_read",
		"quota.default_write", "quota.local_max_keys", "quota.shared", "redis.addr", "redis.autopipeline", "redis.db",
		"redis.password", "redis.pool_size", "redis.prefix", "session.cache_ttl", "session.cache_watch", "session.ttl",
		"shutdown.timeout", "sqlite.synchronous", "tls.cert", "tls.client_ca", "tls.key"}
	if !slices.Equal(keys, want) {
		t.Errorf("etserver's configuration keys are %q, the benchmark's wiring knows %q: see this test's comment", keys, want)
	}
}
