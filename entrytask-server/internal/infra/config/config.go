// Package config loads etserver's configuration with koanf from, in increasing priority:
// built-in defaults < a YAML file (--config or ETSERVER_CONFIG) < ETSERVER_* environment
// variables (koanf providers/env) < command-line flags, and validates it with errors that
// name the offending key.
//
// Keys are dotted paths (session.ttl) derived from Config's koanf tags (Keys); the
// environment variable of a key is ETSERVER_ followed by the key upper-cased with dots
// replaced by underscores (ETSERVER_SESSION_TTL, EnvVar), its flag the key with dots and
// underscores as dashes (--session-ttl, FlagName). Unknown keys in the file are errors, so
// typos do not go unnoticed; unknown ETSERVER_* variables are ignored and listed in
// Config.IgnoredEnv, because orchestrators inject some (Kubernetes: ETSERVER_SERVICE_HOST
// and ETSERVER_PORT_* for a Service named etserver).
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// DefaultGCMemoryLimitMiB is the default gc_memory_limit_mib: far above the read path's
// heap (a few MB), and low enough that a login flood leaves the process near 200 MiB
// resident (1.98 GB without the password-check bound, 560 MB with it and no limit).
const DefaultGCMemoryLimitMiB = 192

// MaxGCMemoryLimitMiB is the largest gc_memory_limit_mib accepted (64 GiB).
const MaxGCMemoryLimitMiB = 64 << 10

// MaxCacheValuesMiB is the largest cache.values_mib accepted (16 GiB).
const MaxCacheValuesMiB = 16 << 10

// MaxCallWorkers is the largest call_workers accepted.
const MaxCallWorkers = 4096

// EnvPrefix is the prefix of the environment variables read.
const EnvPrefix = "ETSERVER_"

// Config is etserver's whole configuration. See Defaults for every default.
type Config struct {
	Listen      string `koanf:"listen"`       // RPC listen address
	AdminListen string `koanf:"admin_listen"` // admin HTTP address (/metrics, /healthz, /readyz; /debug/pprof with admin.pprof); "" disables it
	// Reflection serves dora.reflection.v1.Reflection on the RPC port, so that doractl
	// (dora/cmd/doractl) can list, describe and call the services without .proto files.
	// Default false. The health service (dora.health.v1.Health) is always served.
	Reflection bool   `koanf:"reflection"`
	DataDir    string `koanf:"data_dir"` // embedded store directory (used when mysql.dsn and redis.addr are empty)
	// GCPercent is the garbage collector's target while serving (as GOGC): collect when the
	// heap has grown this many percent over the live data. Default 0: Go's (GOGC, 100 when
	// unset). The GOGC environment variable, when set, wins.
	GCPercent int `koanf:"gc_percent"`
	// GCMemoryLimitMiB is the soft memory limit, in MiB, of the Go runtime while serving
	// (debug.SetMemoryLimit): past it the collector runs as often as it must, whatever
	// GOGC says. GOGC multiplies whatever is live when a cycle starts, and during a login
	// flood that includes the password checks in progress (19 MiB each): a limit keeps
	// their garbage from growing the heap to GOGC times that. 0 turns it off; GOMEMLIMIT in
	// the environment wins. Default DefaultGCMemoryLimitMiB.
	GCMemoryLimitMiB int `koanf:"gc_memory_limit_mib"`
	// CallWorkers is how many goroutines that finished an RPC wait idle for the next one
	// (dora.IdleCallWorkers) instead of a new goroutine per call: a reused goroutine keeps
	// the stack the read path grew (protobuf's marshal, go-redis), which a new one grows
	// again on every call. Default 0: dora's default, a goroutine per call. At most
	// MaxCallWorkers; calls beyond the idle workers still get their own goroutine.
	CallWorkers int      `koanf:"call_workers"`
	MySQL       MySQL    `koanf:"mysql"`
	Redis       Redis    `koanf:"redis"`
	SQLite      SQLite   `koanf:"sqlite"`
	Session     Session  `koanf:"session"`
	KV          KV       `koanf:"kv"`
	Cache       Cache    `koanf:"cache"`
	Quota       Quota    `koanf:"quota"`
	Login       Login    `koanf:"login"`
	Password    Password `koanf:"password"`
	Admin       Admin    `koanf:"admin"`
	TLS         TLS      `koanf:"tls"`
	Shutdown    Shutdown `koanf:"shutdown"`
	Log         Log      `koanf:"log"`
	OTel        OTel     `koanf:"otel"`

	// IgnoredEnv lists the ETSERVER_* environment variables Load found that name no key
	// (sorted); etserver logs them in one debug record. Not a setting.
	IgnoredEnv []string `koanf:"-"`
}

// MySQL configures the accounts and quota database.
type MySQL struct {
	DSN string `koanf:"dsn"`
	// ReplicaDSN is a read-only replica for reads that tolerate replication lag (quota
	// lookups); "" (the default) reads from DSN. A replica that fails a read is skipped
	// for that read: it goes to DSN.
	ReplicaDSN      string        `koanf:"replica_dsn"`
	MaxOpenConns    int           `koanf:"max_open_conns"`
	MaxIdleConns    int           `koanf:"max_idle_conns"`
	ConnMaxLifetime time.Duration `koanf:"conn_max_lifetime"`
}

// Redis configures the session and value store (and the shared rate limiter).
type Redis struct {
	Addr string `koanf:"addr"` // one node (host:port)
	// Addrs is a comma-separated host:port list (ETSERVER_REDIS_ADDRS=a,b,c): the seed
	// nodes of a Redis Cluster, or with MasterName the sentinels. Default "" (use Addr).
	Addrs string `koanf:"addrs"`
	// MasterName selects Redis Sentinel: the name the sentinels in Addrs monitor the
	// primary under. Default "" (no Sentinel).
	MasterName string `koanf:"master_name"`
	Password   string `koanf:"password"`
	DB         int    `koanf:"db"`
	PoolSize   int    `koanf:"pool_size"`
	Prefix     string `koanf:"prefix"`
	// AutoPipeline batches the session reads and value reads and writes of concurrent
	// calls into one pipeline (go-redis autopipelining) once more than a few are in
	// flight; default true.
	AutoPipeline bool `koanf:"autopipeline"`
}

// SQLite configures the embedded store.
type SQLite struct {
	Synchronous string `koanf:"synchronous"`
}

// Session configures sessions.
type Session struct {
	TTL      time.Duration `koanf:"ttl"`
	CacheTTL time.Duration `koanf:"cache_ttl"` // in-process session cache entry lifetime; 0 disables the cache
	// CacheWatch (default true) keeps the cache coherent across instances sharing Redis:
	// entries are dropped as soon as Redis reports their session changed, and the cache is
	// bypassed while those reports may be missed. false: entries are trusted for CacheTTL.
	// Ignored on the embedded store (one process: only its own logouts end sessions).
	CacheWatch bool `koanf:"cache_watch"`
}

// KV configures values.
type KV struct {
	ValueMaxBytes int `koanf:"value_max_bytes"`
}

// Cache configures in-process caches of stored data.
type Cache struct {
	// ValuesMiB is the budget, in MiB, of the value cache in front of Redis
	// (redis.Options.ValueCacheBytes): values read are kept in process, least recently used
	// first out, each counting its key and value bytes plus redis.ValueEntryOverhead, and a
	// value above a quarter of the budget is never kept. It is kept coherent by Redis's
	// invalidation messages (CLIENT TRACKING, the session watch's connection or its own)
	// and bypassed while they may be missed; a change made on another instance is seen
	// here once its message arrives. Default 0: off, every read goes to Redis. At most
	// MaxCacheValuesMiB, and below gc_memory_limit_mib when that is set. Ignored on the
	// embedded store.
	ValuesMiB int `koanf:"values_mib"`
}

// Quota configures quotas and their enforcement.
type Quota struct {
	DefaultRead  int           `koanf:"default_read"`
	DefaultWrite int           `koanf:"default_write"`
	Shared       bool          `koanf:"shared"`
	CacheSize    int           `koanf:"cache_size"`
	CacheTTL     time.Duration `koanf:"cache_ttl"`
	LocalMaxKeys int           `koanf:"local_max_keys"`
}

// Login configures the per-username throttle of failed logins and the server-wide bound
// on password checks (app.Options LoginRate, LoginBurst, MaxConcurrentHashes, HashWait).
type Login struct {
	Rate                int           `koanf:"rate"`                  // failed attempts/s per username (5)
	Burst               int           `koanf:"burst"`                 // failed attempts in a burst per username (10)
	MaxConcurrentHashes int           `koanf:"max_concurrent_hashes"` // password checks at once; 0 (default) = 2 × GOMAXPROCS
	HashWait            time.Duration `koanf:"hash_wait"`             // wait for a check slot before ResourceExhausted (1s)
	AddrRate            int           `koanf:"addr_rate"`             // failed attempts/s per client address, IPv6 per /64 (10)
	AddrBurst           int           `koanf:"addr_burst"`            // failed attempts in a burst per client address (20)
	// CacheTTL is how long a verified username and password open sessions without a new
	// password check (1m; 0s disables; at most MaxLoginCacheTTL).
	CacheTTL time.Duration `koanf:"cache_ttl"`
}

// Admin configures the account administration RPC service (etadmin.Admin, package
// adminpb) served on the RPC port next to kv.Store, and profiling on the admin HTTP port.
type Admin struct {
	// Pprof serves net/http/pprof under /debug/pprof/ on the admin HTTP port
	// (admin_listen). Default false: a profile costs CPU and a heap dump shows memory
	// contents, so turn it on where that port is not reachable by others (--admin-pprof).
	// /metrics, /healthz and /readyz are served either way.
	Pprof bool `koanf:"pprof"`

	// Token, when set, turns the admin service on: every admin call must carry it in
	// metadata "admin-token" (compared in constant time). At least MinAdminTokenBytes
	// bytes; "" (default) serves no admin service. Prefer ETSERVER_ADMIN_TOKEN to a file.
	Token string `koanf:"token"`
}

// MinAdminTokenBytes is the shortest admin.token accepted (api.MinAdminTokenBytes).
const MinAdminTokenBytes = 16

// MaxLoginCacheTTL bounds login.cache_ttl.
const MaxLoginCacheTTL = 10 * time.Minute

// MaxLoginHashWait bounds login.hash_wait: a login never waits longer than this for a
// password-check slot.
const MaxLoginHashWait = 30 * time.Second

// Password configures the argon2id cost of new password hashes.
type Password struct {
	Time      int `koanf:"time"`
	MemoryKiB int `koanf:"memory_kib"`
	Threads   int `koanf:"threads"`
}

// TLS configures the RPC listener's TLS; client_ca turns on mTLS.
type TLS struct {
	Cert     string `koanf:"cert"`
	Key      string `koanf:"key"`
	ClientCA string `koanf:"client_ca"`
}

// Shutdown configures graceful shutdown.
type Shutdown struct {
	Timeout time.Duration `koanf:"timeout"`
}

// Log configures log/slog.
type Log struct {
	Level  string `koanf:"level"`
	Format string `koanf:"format"`
}

// OTel configures OpenTelemetry tracing of the RPC calls (dora/otel's server handler, an
// SDK TracerProvider and an OTLP/HTTP exporter).
type OTel struct {
	// Endpoint is the OTLP/HTTP traces URL, for example http://127.0.0.1:4318/v1/traces
	// (a collector's or Jaeger's OTLP/HTTP port); it is used as given, so include the
	// path. "" (default) exports nothing unless OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
	// OTEL_EXPORTER_OTLP_ENDPOINT is set, which the exporter then reads as it always
	// does. The exporter's other OTEL_EXPORTER_OTLP_* variables (headers, timeout, TLS
	// certificate, compression) apply either way.
	Endpoint string `koanf:"endpoint"`
	// ServiceName is the service.name resource attribute of every span (default
	// "etserver"); OTEL_SERVICE_NAME, when set, wins.
	ServiceName string `koanf:"service_name"`
	// SampleRatio is the fraction of traces started here that are sampled, 0..1
	// (default 1: every call). A call whose client sent a sampled trace context is
	// sampled whatever the ratio (parent-based sampling).
	SampleRatio float64 `koanf:"sample_ratio"`
	// MetricsEndpoint is the OTLP/HTTP metrics URL, for example
	// http://127.0.0.1:4318/v1/metrics, used as given: dora/otel's RPC metrics
	// (rpc.server.duration, request/response sizes, messages per call) are pushed there every
	// 60 s and when serve stops. "" (default) exports no metrics unless
	// OTEL_EXPORTER_OTLP_METRICS_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT is set. etserver's
	// Prometheus /metrics is served either way.
	MetricsEndpoint string `koanf:"metrics_endpoint"`
}

// Defaults returns the built-in defaults as koanf keys (this is the documented list).
func Defaults() map[string]any {
	return map[string]any{
		"listen":                      "127.0.0.1:7000",
		"admin_listen":                "127.0.0.1:7001",
		"reflection":                  false,
		"data_dir":                    "etserver-data",
		"gc_percent":                  0,
		"gc_memory_limit_mib":         DefaultGCMemoryLimitMiB,
		"call_workers":                0,
		"mysql.dsn":                   "",
		"mysql.replica_dsn":           "",
		"mysql.max_open_conns":        64,
		"mysql.max_idle_conns":        64,
		"mysql.conn_max_lifetime":     "30m",
		"redis.addr":                  "",
		"redis.addrs":                 "",
		"redis.master_name":           "",
		"redis.password":              "",
		"redis.db":                    0,
		"redis.pool_size":             0,
		"redis.prefix":                "et:",
		"redis.autopipeline":          true,
		"sqlite.synchronous":          "FULL",
		"session.ttl":                 "24h",
		"session.cache_ttl":           "10s",
		"session.cache_watch":         true,
		"kv.value_max_bytes":          1 << 20,
		"cache.values_mib":            0,
		"quota.default_read":          1000,
		"quota.default_write":         1000,
		"quota.shared":                false,
		"quota.cache_size":            100000,
		"quota.cache_ttl":             "30s",
		"quota.local_max_keys":        100000,
		"login.rate":                  5,
		"login.burst":                 10,
		"login.max_concurrent_hashes": 0,
		"login.hash_wait":             "1s",
		"login.addr_rate":             10,
		"login.addr_burst":            20,
		"login.cache_ttl":             "1m",
		"admin.token":                 "",
		"admin.pprof":                 false,
		"password.time":               2,
		"password.memory_kib":         19456,
		"password.threads":            1,
		"tls.cert":                    "",
		"tls.key":                     "",
		"tls.client_ca":               "",
		"shutdown.timeout":            "10s",
		"log.level":                   "info",
		"log.format":                  "text",
		"otel.endpoint":               "",
		"otel.service_name":           "etserver",
		"otel.sample_ratio":           1.0,
		"otel.metrics_endpoint":       "",
	}
}

// ConfigEnv is the environment variable that names the YAML file when Sources.File is
// empty, as --config does: ETSERVER_CONFIG=/etc/etserver.yaml.
const ConfigEnv = EnvPrefix + "CONFIG"

// Sources are the inputs of Load.
type Sources struct {
	// File is the YAML file; "" means ConfigEnv's value when Env is set, else none.
	File string
	// Env reads ETSERVER_* variables from the process environment (koanf providers/env).
	// A variable that names no key is not an error: Kubernetes injects
	// ETSERVER_SERVICE_HOST, ETSERVER_PORT_8080_TCP, … for a Service named etserver. Load
	// lists such variables in Config.IgnoredEnv for the caller to log.
	Env bool
	// Flags are flag values already mapped to keys (only flags the user set; FlagName
	// gives the flag of a key).
	Flags map[string]any
}

// Keys returns every configuration key, in order, derived from Config's koanf tags: a
// field added to Config (or one of its sections) with a koanf tag is a key of the file,
// the environment (EnvVar) and the flags (FlagName) without further mapping.
func Keys() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("koanf")
			if tag == "" || tag == "-" {
				continue
			}
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, prefix+tag+".")
				continue
			}
			keys = append(keys, prefix+tag)
		}
	}
	walk(reflect.TypeFor[Config](), "")
	sort.Strings(keys)
	return keys
}

// EnvVar returns the environment variable of key: EnvPrefix and the key upper-cased with
// dots as underscores (session.cache_ttl: ETSERVER_SESSION_CACHE_TTL).
func EnvVar(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// FlagName returns the command-line flag of key, dots and underscores as dashes
// (tls.client_ca: tls-client-ca).
func FlagName(key string) string {
	return strings.NewReplacer(".", "-", "_", "-").Replace(key)
}

// Load merges defaults, file, environment and flags, in that order, and validates. An
// unknown key in the file or the flags is an error naming it; an unknown ETSERVER_*
// variable is listed in Config.IgnoredEnv.
func Load(src Sources) (Config, error) {
	known := map[string]bool{}
	envKeys := map[string]string{}
	for _, key := range Keys() {
		known[key] = true
		envKeys[EnvVar(key)] = key
	}
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(Defaults(), "."), nil); err != nil {
		return Config{}, fmt.Errorf("config: defaults: %w", err)
	}
	path := src.File
	if path == "" && src.Env {
		path = os.Getenv(ConfigEnv)
	}
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return Config{}, fmt.Errorf("config: file %s: %w", path, err)
		}
		fk := koanf.New(".")
		if err := fk.Load(file.Provider(path), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("config: file %s: %w", path, err)
		}
		for _, key := range fk.Keys() {
			if !known[key] {
				return Config{}, fmt.Errorf("config: file %s: unknown key %q", path, key)
			}
		}
		if err := k.Merge(fk); err != nil {
			return Config{}, fmt.Errorf("config: file %s: %w", path, err)
		}
	}
	var ignored []string
	if src.Env {
		err := k.Load(env.Provider(EnvPrefix, ".", func(name string) string {
			key, ok := envKeys[name]
			if !ok && name != ConfigEnv {
				ignored = append(ignored, name)
			}
			return key
		}), nil)
		if err != nil {
			return Config{}, fmt.Errorf("config: environment: %w", err)
		}
		sort.Strings(ignored)
	}
	for key := range src.Flags {
		if !known[key] {
			return Config{}, fmt.Errorf("config: flag for unknown key %q", key)
		}
	}
	if err := k.Load(confmap.Provider(src.Flags, "."), nil); err != nil {
		return Config{}, fmt.Errorf("config: flags: %w", err)
	}
	var c Config
	for _, key := range sortedKeys(k) {
		if err := decodeKey(k, key, &c); err != nil {
			return Config{}, err
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	c.IgnoredEnv = ignored
	return c, nil
}

func sortedKeys(k *koanf.Koanf) []string {
	keys := k.Keys()
	sort.Strings(keys)
	return keys
}

// decodeKey decodes one key into its field, so a type error names the key.
func decodeKey(k *koanf.Koanf, key string, c *Config) error {
	field, err := fieldByKey(reflect.ValueOf(c).Elem(), strings.Split(key, "."))
	if err != nil {
		return fmt.Errorf("config: %s: %w", key, err)
	}
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook:       mapstructure.StringToTimeDurationHookFunc(),
		WeaklyTypedInput: true,
		Result:           field.Addr().Interface(),
	})
	if err != nil {
		return fmt.Errorf("config: %s: %w", key, err)
	}
	if err := dec.Decode(k.Get(key)); err != nil {
		return fmt.Errorf("config: %s: %v", key, unwrapDecode(err))
	}
	return nil
}

func unwrapDecode(err error) error {
	var de *mapstructure.DecodeError
	if errors.As(err, &de) {
		return de.Unwrap()
	}
	return err
}

func fieldByKey(v reflect.Value, path []string) (reflect.Value, error) {
	for _, name := range path {
		t := v.Type()
		found := false
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).Tag.Get("koanf") == name {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return reflect.Value{}, errors.New("unknown key")
		}
	}
	return v, nil
}

// Embedded reports whether the configuration selects the embedded SQLite store (neither
// mysql.dsn nor redis.addr nor redis.addrs is set).
func (c Config) Embedded() bool { return c.MySQL.DSN == "" && !c.Redis.Set() }

// Set reports whether a Redis is configured: redis.addr or redis.addrs.
func (r Redis) Set() bool { return r.Addr != "" || r.Addrs != "" }

// AddrList returns redis.addrs split at commas, spaces trimmed, empty items dropped.
func (r Redis) AddrList() []string {
	var out []string
	for a := range strings.SplitSeq(r.Addrs, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// Validate checks every value; its errors name the key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: "+format, append([]any{key}, args...)...))
	}
	checkAddr := func(key, addr string, optional bool) {
		if addr == "" && optional {
			return
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad(key, "%q is not host:port", addr)
		}
	}
	checkAddr("listen", c.Listen, false)
	checkAddr("admin_listen", c.AdminListen, true)
	if c.Embedded() && c.DataDir == "" {
		bad("data_dir", "must be set when mysql.dsn and redis.addr are empty")
	}
	if (c.MySQL.DSN == "") != !c.Redis.Set() {
		if c.MySQL.DSN == "" {
			bad("mysql.dsn", "must be set when redis.addr is set (accounts live in MySQL, sessions and values in Redis)")
		} else {
			bad("redis.addr", "must be set when mysql.dsn is set (sessions and values live in Redis)")
		}
	}
	if c.Redis.Addr != "" {
		checkAddr("redis.addr", c.Redis.Addr, false)
	}
	if c.Redis.Addr != "" && c.Redis.Addrs != "" {
		bad("redis.addrs", "set together with redis.addr; redis.addr is one node, redis.addrs a cluster or the sentinels")
	}
	if c.Redis.Addrs != "" {
		if len(c.Redis.AddrList()) == 0 {
			bad("redis.addrs", "names no address, got %q", c.Redis.Addrs)
		}
		for _, a := range c.Redis.AddrList() {
			checkAddr("redis.addrs", a, false)
		}
		if c.Redis.MasterName == "" && c.Redis.DB != 0 {
			bad("redis.db", "must be 0 on a cluster (redis.addrs without redis.master_name), got %d", c.Redis.DB)
		}
	}
	if c.Redis.MasterName != "" && c.Redis.Addrs == "" {
		bad("redis.master_name", "needs the sentinels' addresses in redis.addrs")
	}
	if c.MySQL.ReplicaDSN != "" && c.MySQL.DSN == "" {
		bad("mysql.replica_dsn", "needs mysql.dsn (writes go to the primary)")
	}
	if c.Quota.Shared && !c.Redis.Set() {
		bad("quota.shared", "needs redis.addr")
	}
	nonNeg := func(key string, v int) {
		if v < 0 {
			bad(key, "must not be negative, got %d", v)
		}
	}
	positive := func(key string, v int) {
		if v <= 0 {
			bad(key, "must be positive, got %d", v)
		}
	}
	positiveDur := func(key string, d time.Duration) {
		if d <= 0 {
			bad(key, "must be a positive duration, got %s", d)
		}
	}
	if c.GCPercent < 0 || c.GCPercent > 10000 {
		bad("gc_percent", "must be in 0..10000, got %d", c.GCPercent)
	}
	if c.GCMemoryLimitMiB < 0 || c.GCMemoryLimitMiB > MaxGCMemoryLimitMiB {
		bad("gc_memory_limit_mib", "must be in 0..%d, got %d", MaxGCMemoryLimitMiB, c.GCMemoryLimitMiB)
	}
	if c.CallWorkers < 0 || c.CallWorkers > MaxCallWorkers {
		bad("call_workers", "must be in 0..%d, got %d", MaxCallWorkers, c.CallWorkers)
	}
	nonNeg("mysql.max_open_conns", c.MySQL.MaxOpenConns)
	nonNeg("mysql.max_idle_conns", c.MySQL.MaxIdleConns)
	nonNeg("redis.db", c.Redis.DB)
	nonNeg("redis.pool_size", c.Redis.PoolSize)
	if s := strings.ToUpper(c.SQLite.Synchronous); s != "FULL" && s != "NORMAL" {
		bad("sqlite.synchronous", "must be FULL or NORMAL, got %q", c.SQLite.Synchronous)
	}
	if c.OTel.SampleRatio < 0 || c.OTel.SampleRatio > 1 {
		bad("otel.sample_ratio", "must be in 0..1, got %g", c.OTel.SampleRatio)
	}
	for _, e := range []struct{ key, val, example string }{
		{"otel.endpoint", c.OTel.Endpoint, "http://127.0.0.1:4318/v1/traces"},
		{"otel.metrics_endpoint", c.OTel.MetricsEndpoint, "http://127.0.0.1:4318/v1/metrics"},
	} {
		if e.val == "" {
			continue
		}
		if u, err := url.Parse(e.val); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(e.key, "must be an http:// or https:// URL such as %s, got %q", e.example, e.val)
		}
	}
	positiveDur("session.ttl", c.Session.TTL)
	if c.Session.CacheTTL < 0 || c.Session.CacheTTL > time.Minute {
		bad("session.cache_ttl", "must be in 0s..1m, got %s", c.Session.CacheTTL)
	}
	positive("kv.value_max_bytes", c.KV.ValueMaxBytes)
	switch v := c.Cache.ValuesMiB; {
	case v < 0 || v > MaxCacheValuesMiB:
		bad("cache.values_mib", "must be in 0..%d (0: off), got %d", MaxCacheValuesMiB, v)
	case v > 0 && c.GCMemoryLimitMiB > 0 && v >= c.GCMemoryLimitMiB:
		bad("cache.values_mib", "%d MiB of cached values would not fit under gc_memory_limit_mib (%d): raise that by at least the cache's size, or set it to 0",
			v, c.GCMemoryLimitMiB)
	}
	if c.Quota.DefaultRead < 1 || c.Quota.DefaultRead > 100000 {
		bad("quota.default_read", "must be in 1..100000, got %d", c.Quota.DefaultRead)
	}
	if c.Quota.DefaultWrite < 1 || c.Quota.DefaultWrite > 100000 {
		bad("quota.default_write", "must be in 1..100000, got %d", c.Quota.DefaultWrite)
	}
	positive("quota.cache_size", c.Quota.CacheSize)
	positiveDur("quota.cache_ttl", c.Quota.CacheTTL)
	positive("quota.local_max_keys", c.Quota.LocalMaxKeys)
	positive("login.rate", c.Login.Rate)
	positive("login.burst", c.Login.Burst)
	if c.Login.MaxConcurrentHashes < 0 || c.Login.MaxConcurrentHashes > 4096 {
		bad("login.max_concurrent_hashes", "must be in 0..4096 (0: 2 × GOMAXPROCS), got %d", c.Login.MaxConcurrentHashes)
	}
	if c.Login.HashWait <= 0 || c.Login.HashWait > MaxLoginHashWait {
		bad("login.hash_wait", "must be in (0s, %s], got %s", MaxLoginHashWait, c.Login.HashWait)
	}
	if n := len(c.Admin.Token); n > 0 && n < MinAdminTokenBytes {
		bad("admin.token", "must be empty (no admin service) or at least %d bytes, got %d", MinAdminTokenBytes, n)
	}
	positive("login.addr_rate", c.Login.AddrRate)
	positive("login.addr_burst", c.Login.AddrBurst)
	if c.Login.CacheTTL < 0 || c.Login.CacheTTL > MaxLoginCacheTTL {
		bad("login.cache_ttl", "must be in [0s, %s] (0s: off), got %s", MaxLoginCacheTTL, c.Login.CacheTTL)
	}
	positive("password.time", c.Password.Time)
	if c.Password.MemoryKiB < 8 || c.Password.MemoryKiB > 1<<20 {
		bad("password.memory_kib", "must be in 8..1048576, got %d", c.Password.MemoryKiB)
	}
	if c.Password.Threads < 1 || c.Password.Threads > 255 {
		bad("password.threads", "must be in 1..255, got %d", c.Password.Threads)
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		bad("tls.cert", "tls.cert and tls.key must be set together")
	}
	if c.TLS.ClientCA != "" && c.TLS.Cert == "" {
		bad("tls.client_ca", "needs tls.cert and tls.key")
	}
	positiveDur("shutdown.timeout", c.Shutdown.Timeout)
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "must be text or json, got %q", c.Log.Format)
	}
	return errors.Join(errs...)
}
