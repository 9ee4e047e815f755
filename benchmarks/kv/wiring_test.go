package kv_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/seed857a6cbd/pocket/entrytask-server/api"
	"github.com/seed857a6cbd/pocket/entrytask-server/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/mysql"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/ratelimit"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/redis"
	"github.com/seed857a6cbd/pocket/entrytask-server/infra/sqlite"
)

// TestWiringUpToDate guards OpenBackend, a copy of etserver's wiring (cmd/etserver is a
// main package and cannot be imported): when an options struct it fills gains or loses a
// field, etserver's wiring has probably changed too, and the benchmark would silently
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
		{redis.Options{}, []string{"Addr", "Password", "DB", "PoolSize", "Prefix", "DisableAutoPipeline"}},
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
}
