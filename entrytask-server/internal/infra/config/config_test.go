package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/config"
)

// setenv sets each KEY=VALUE for the test (t.Setenv: restored after it).
func setenv(t *testing.T, kvs ...string) {
	t.Helper()
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	c, err := config.Load(config.Sources{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:7000" || c.AdminListen != "127.0.0.1:7001" || c.Session.TTL != 24*time.Hour ||
		c.KV.ValueMaxBytes != 1<<20 || !c.Embedded() || c.SQLite.Synchronous != "FULL" || c.Quota.CacheTTL != 30*time.Second ||
		c.Session.CacheTTL != 10*time.Second || !c.Session.CacheWatch || !c.Redis.AutoPipeline || c.GCPercent != 0 || c.GCMemoryLimitMiB != config.DefaultGCMemoryLimitMiB || c.CallWorkers != 0 ||
		c.Cache.ValuesMiB != 0 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "listen: 127.0.0.1:8000\nsession:\n  ttl: 1h\nkv:\n  value_max_bytes: 2000\nlog:\n  level: debug\n")
	setenv(t, "ETSERVER_SESSION_TTL=2h", "ETSERVER_QUOTA_DEFAULT_READ=7", "ETSERVER_LOG_LEVEL=warn", "OTHER=1")
	c, err := config.Load(config.Sources{
		File:  file,
		Env:   true,
		Flags: map[string]any{"log.level": "error"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8000" { // file over default
		t.Errorf("listen = %s", c.Listen)
	}
	if c.KV.ValueMaxBytes != 2000 {
		t.Errorf("kv.value_max_bytes = %d", c.KV.ValueMaxBytes)
	}
	if c.Session.TTL != 2*time.Hour { // env over file
		t.Errorf("session.ttl = %s", c.Session.TTL)
	}
	if c.Quota.DefaultRead != 7 {
		t.Errorf("quota.default_read = %d", c.Quota.DefaultRead)
	}
	if c.Log.Level != "error" { // flag over env over file
		t.Errorf("log.level = %s", c.Log.Level)
	}
}

// TestSampleConfigLoads: the documented sample config.yaml loads, lists every key, and
// gives each its built-in default (so it cannot drift from Defaults).
func TestSampleConfigLoads(t *testing.T) {
	const sample = "../../../config.yaml"
	c, err := config.Load(config.Sources{File: sample})
	if err != nil {
		t.Fatalf("the sample config.yaml does not load: %v", err)
	}
	if !c.Embedded() {
		t.Fatal("the sample config should run the embedded store")
	}
	def, err := config.Load(config.Sources{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, def) {
		t.Errorf("the sample config.yaml differs from the defaults:\n sample   %+v\n defaults %+v", c, def)
	}
	k := koanf.New(".")
	if err := k.Load(file.Provider(sample), yaml.Parser()); err != nil {
		t.Fatal(err)
	}
	for key := range config.Defaults() {
		if !k.Exists(key) {
			t.Errorf("the sample config.yaml does not document key %s", key)
		}
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		src  config.Sources
		env  []string // KEY=VALUE set for the case
		want string
	}{
		{"negative ttl", config.Sources{Env: true}, []string{"ETSERVER_SESSION_TTL=-1s"}, "config: session.ttl: must be a positive duration"},
		{"not a duration", config.Sources{Env: true}, []string{"ETSERVER_SESSION_TTL=soon"}, "config: session.ttl:"},
		{"not a number", config.Sources{Env: true}, []string{"ETSERVER_KV_VALUE_MAX_BYTES=big"}, "config: kv.value_max_bytes:"},
		{"unknown file key beside env", config.Sources{Env: true, File: writeFile(t, "admin:\n  pprof: true\n  tokn: x\n")}, []string{"ETSERVER_SESION_TTL=1h"}, `unknown key "admin.tokn"`},
		{"file named by ETSERVER_CONFIG", config.Sources{Env: true}, []string{"ETSERVER_CONFIG=/nonexistent/etserver.yaml"}, "config: file /nonexistent/etserver.yaml"},
		{"unknown file key", config.Sources{File: writeFile(t, "sesion:\n  ttl: 1h\n")}, nil, `unknown key "sesion.ttl"`},
		{"missing file", config.Sources{File: "/nonexistent/etserver.yaml"}, nil, "config: file /nonexistent/etserver.yaml"},
		{"bad listen", config.Sources{Flags: map[string]any{"listen": "7000"}}, nil, `config: listen: "7000" is not host:port`},
		{"mysql without redis", config.Sources{Flags: map[string]any{"mysql.dsn": "root@tcp(127.0.0.1:3306)/x"}}, nil, "config: redis.addr: must be set when mysql.dsn is set"},
		{"redis without mysql", config.Sources{Flags: map[string]any{"redis.addr": "127.0.0.1:6379"}}, nil, "config: mysql.dsn: must be set"},
		{"shared quota without redis", config.Sources{Env: true}, []string{"ETSERVER_QUOTA_SHARED=true"}, "config: quota.shared: needs redis.addr"},
		{"bad synchronous", config.Sources{Env: true}, []string{"ETSERVER_SQLITE_SYNCHRONOUS=OFF"}, "config: sqlite.synchronous: must be FULL or NORMAL"},
		{"quota too high", config.Sources{Env: true}, []string{"ETSERVER_QUOTA_DEFAULT_WRITE=100001"}, "config: quota.default_write: must be in 1..100000"},
		{"cert without key", config.Sources{Env: true}, []string{"ETSERVER_TLS_CERT=a.pem"}, "config: tls.cert:"},
		{"negative gc percent", config.Sources{Env: true}, []string{"ETSERVER_GC_PERCENT=-1"}, "config: gc_percent: must be in 0..10000"},
		{"negative gc memory limit", config.Sources{Env: true}, []string{"ETSERVER_GC_MEMORY_LIMIT_MIB=-1"}, "config: gc_memory_limit_mib: must be in 0..65536, got -1"},
		{"negative call workers", config.Sources{Env: true}, []string{"ETSERVER_CALL_WORKERS=-1"}, "config: call_workers: must be in 0..4096, got -1"},
		{"too many call workers", config.Sources{Flags: map[string]any{"call_workers": 5000}}, nil, "config: call_workers: must be in 0..4096, got 5000"},
		{"huge gc memory limit", config.Sources{Flags: map[string]any{"gc_memory_limit_mib": 1 << 20}}, nil, "config: gc_memory_limit_mib: must be in 0..65536"},
		{"removed gc floor", config.Sources{Flags: map[string]any{"gc_min_heap_mib": 128}}, nil, `config: flag for unknown key "gc_min_heap_mib"`},
		{"negative session cache", config.Sources{Env: true}, []string{"ETSERVER_SESSION_CACHE_TTL=-1s"}, "config: session.cache_ttl: must be in 0s..1m"},
		{"client ca without cert", config.Sources{Env: true}, []string{"ETSERVER_TLS_CLIENT_CA=ca.pem"}, "config: tls.client_ca: needs tls.cert"},
		{"bad log level", config.Sources{Env: true}, []string{"ETSERVER_LOG_LEVEL=loud"}, "config: log.level:"},
		{"negative hash slots", config.Sources{Env: true}, []string{"ETSERVER_LOGIN_MAX_CONCURRENT_HASHES=-1"}, "config: login.max_concurrent_hashes: must be in 0..4096"},
		{"zero hash wait", config.Sources{Env: true}, []string{"ETSERVER_LOGIN_HASH_WAIT=0s"}, "config: login.hash_wait: must be in (0s, 30s]"},
		{"hash wait too long", config.Sources{Env: true}, []string{"ETSERVER_LOGIN_HASH_WAIT=1m"}, "config: login.hash_wait: must be in (0s, 30s], got 1m0s"},
		{"unknown flag key", config.Sources{Flags: map[string]any{"nope": "1"}}, nil, `unknown key "nope"`},
		{"sample ratio over 1", config.Sources{Env: true}, []string{"ETSERVER_OTEL_SAMPLE_RATIO=1.5"}, "config: otel.sample_ratio: must be in 0..1, got 1.5"},
		{"negative value cache", config.Sources{Env: true}, []string{"ETSERVER_CACHE_VALUES_MIB=-1"}, "config: cache.values_mib: must be in 0..16384 (0: off), got -1"},
		{"huge value cache", config.Sources{Env: true}, []string{"ETSERVER_CACHE_VALUES_MIB=16385", "ETSERVER_GC_MEMORY_LIMIT_MIB=0"}, "config: cache.values_mib: must be in 0..16384 (0: off), got 16385"},
		{"value cache over the gc limit", config.Sources{Env: true}, []string{"ETSERVER_CACHE_VALUES_MIB=192"}, "config: cache.values_mib: 192 MiB of cached values would not fit under gc_memory_limit_mib (192)"},
		{"otel endpoint not a URL", config.Sources{Env: true}, []string{"ETSERVER_OTEL_ENDPOINT=127.0.0.1:4318"}, "config: otel.endpoint: must be an http:// or https:// URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			setenv(t, tc.env...)
			_, err := config.Load(tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v, want error containing %q", err, tc.want)
			}
		})
	}
}

// TestCacheValuesMiB: cache.values_mib is read from the environment (the default, 0, is
// checked by TestDefaults), and a budget below gc_memory_limit_mib, or any with that limit
// off, is accepted.
func TestCacheValuesMiB(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want int
	}{
		{"below the gc limit", []string{"ETSERVER_CACHE_VALUES_MIB=64"}, 64},
		{"gc limit off", []string{"ETSERVER_CACHE_VALUES_MIB=16384", "ETSERVER_GC_MEMORY_LIMIT_MIB=0"}, 16384},
		{"gc limit raised", []string{"ETSERVER_CACHE_VALUES_MIB=512", "ETSERVER_GC_MEMORY_LIMIT_MIB=768"}, 512},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setenv(t, tc.env...)
			c, err := config.Load(config.Sources{Env: true})
			if err != nil {
				t.Fatal(err)
			}
			if c.Cache.ValuesMiB != tc.want {
				t.Fatalf("cache.values_mib = %d, want %d", c.Cache.ValuesMiB, tc.want)
			}
		})
	}
}

// TestUnknownEnvIgnored: ETSERVER_* variables that name no key, such as those Kubernetes
// injects for a Service named etserver, are ignored and listed in IgnoredEnv; known ones
// still apply; ETSERVER_CONFIG names the file and is not listed.
func TestUnknownEnvIgnored(t *testing.T) {
	file := writeFile(t, "listen: 127.0.0.1:8000\n")
	setenv(t, "ETSERVER_SERVICE_HOST=10.96.0.12", "ETSERVER_SERVICE_PORT=7000", "ETSERVER_PORT=tcp://10.96.0.12:7000",
		"ETSERVER_PORT_7000_TCP=tcp://10.96.0.12:7000", "ETSERVER_PORT_7000_TCP_PROTO=tcp", "ETSERVER_SESION_TTL=1h",
		"ETSERVER_SESSION_TTL=2h", "ETSERVER_CONFIG="+file)
	c, err := config.Load(config.Sources{Env: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ETSERVER_PORT", "ETSERVER_PORT_7000_TCP", "ETSERVER_PORT_7000_TCP_PROTO", "ETSERVER_SERVICE_HOST",
		"ETSERVER_SERVICE_PORT", "ETSERVER_SESION_TTL"}
	if !reflect.DeepEqual(c.IgnoredEnv, want) {
		t.Errorf("IgnoredEnv = %q, want %q", c.IgnoredEnv, want)
	}
	if c.Session.TTL != 2*time.Hour || c.Listen != "127.0.0.1:8000" {
		t.Errorf("session.ttl = %s (want 2h from the environment), listen = %s (want the file's)", c.Session.TTL, c.Listen)
	}
	// Sources.File wins over ETSERVER_CONFIG, as --config does.
	other := writeFile(t, "listen: 127.0.0.1:9000\n")
	if c, err := config.Load(config.Sources{Env: true, File: other}); err != nil || c.Listen != "127.0.0.1:9000" {
		t.Errorf("File over ETSERVER_CONFIG: %v %s", err, c.Listen)
	}
	// Without Env the process environment is not read.
	if c, err := config.Load(config.Sources{}); err != nil || c.Session.TTL != 24*time.Hour || c.IgnoredEnv != nil {
		t.Errorf("Env false: %v %+v", err, c)
	}
}

// TestOTel: tracing is off by default; its keys come from the environment like any other.
func TestOTel(t *testing.T) {
	c, err := config.Load(config.Sources{})
	if err != nil || c.OTel != (config.OTel{ServiceName: "etserver", SampleRatio: 1}) {
		t.Fatalf("defaults: %v %+v", err, c.OTel)
	}
	setenv(t, "ETSERVER_OTEL_ENDPOINT=http://127.0.0.1:4318/v1/traces", "ETSERVER_OTEL_SERVICE_NAME=et-a", "ETSERVER_OTEL_SAMPLE_RATIO=0.25")
	c, err = config.Load(config.Sources{Env: true})
	if err != nil || c.OTel != (config.OTel{Endpoint: "http://127.0.0.1:4318/v1/traces", ServiceName: "et-a", SampleRatio: 0.25}) {
		t.Fatalf("from the environment: %v %+v", err, c.OTel)
	}
}

// TestKeysAreTheDefaults: the keys derived from Config's koanf tags and the documented
// defaults are the same set, each key has the environment variable and flag its name
// says, and a key given through any source reaches its field.
func TestKeysAreTheDefaults(t *testing.T) {
	keys := config.Keys()
	def := config.Defaults()
	for _, k := range keys {
		if _, ok := def[k]; !ok {
			t.Errorf("key %s has no default in Defaults", k)
		}
	}
	if len(keys) != len(def) {
		t.Errorf("%d keys, %d defaults", len(keys), len(def))
	}
	if got := config.EnvVar("tls.client_ca"); got != "ETSERVER_TLS_CLIENT_CA" {
		t.Errorf("EnvVar = %s", got)
	}
	if got := config.FlagName("tls.client_ca"); got != "tls-client-ca" {
		t.Errorf("FlagName = %s", got)
	}
	setenv(t, config.EnvVar("admin.pprof")+"=true")
	c, err := config.Load(config.Sources{Env: true})
	if err != nil || !c.Admin.Pprof {
		t.Errorf("%s=true: %v, admin.pprof = %v", config.EnvVar("admin.pprof"), err, c.Admin.Pprof)
	}
}

func TestRedisModes(t *testing.T) {
	base := []string{"ETSERVER_MYSQL_DSN=root@tcp(127.0.0.1:3306)/et"}
	for _, tc := range []struct {
		name    string
		env     []string
		addrs   []string
		wantErr string
	}{
		{"cluster", []string{"ETSERVER_REDIS_ADDRS=127.0.0.1:1, 127.0.0.1:2,127.0.0.1:3"}, []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}, ""},
		{"sentinel", []string{"ETSERVER_REDIS_ADDRS=127.0.0.1:1", "ETSERVER_REDIS_MASTER_NAME=m"}, []string{"127.0.0.1:1"}, ""},
		{"both", []string{"ETSERVER_REDIS_ADDRS=127.0.0.1:1", "ETSERVER_REDIS_ADDR=127.0.0.1:2"}, nil, "redis.addrs: set together with redis.addr"},
		{"not host:port", []string{"ETSERVER_REDIS_ADDRS=127.0.0.1:1,x"}, nil, `redis.addrs: "x" is not host:port`},
		{"only commas", []string{"ETSERVER_REDIS_ADDRS=,"}, nil, "redis.addrs: names no address"},
		{"db on a cluster", []string{"ETSERVER_REDIS_ADDRS=127.0.0.1:1", "ETSERVER_REDIS_DB=2"}, nil, "redis.db: must be 0 on a cluster"},
		{"master name alone", []string{"ETSERVER_REDIS_ADDR=127.0.0.1:1", "ETSERVER_REDIS_MASTER_NAME=m"}, nil, "redis.master_name: needs the sentinels"},
		{"replica without primary", []string{"ETSERVER_MYSQL_DSN=", "ETSERVER_MYSQL_REPLICA_DSN=x@tcp(127.0.0.1:1)/et"}, nil, "mysql.replica_dsn: needs mysql.dsn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setenv(t, append(append([]string{}, base...), tc.env...)...)
			c, err := config.Load(config.Sources{Env: true})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Redis.AddrList(); !slices.Equal(got, tc.addrs) || c.Embedded() {
				t.Fatalf("AddrList %q (Embedded %v), want %q", got, c.Embedded(), tc.addrs)
			}
		})
	}
}
