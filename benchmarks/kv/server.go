package kv

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
)

// DefaultUser is the seeded user the load logs in as: users 1..DefaultUser are seeded, and
// user 33,333 is the first whose read quota is etserver's maximum (100,000/s; its write
// quota is 33,336/s). User 1's read quota is 6/s.
const DefaultUser = 33333

// The store modes of a Server.
const (
	ModeEmbedded   = "embedded"
	ModeMySQLRedis = "mysql+redis"
)

// EtserverPackage is the etserver command the suite builds (Build) and runs: the program
// as shipped, configured through its ETSERVER_* environment.
const EtserverPackage = "github.com/seed857a6cbd/pocket/entrytask-server/cmd/etserver"

// ServerGOGC is the GOGC the suite gives etserver unless GOGC is set in the benchmark's own
// environment: etserver runs with Go's defaults, and each call leaves a few KB of garbage on
// a live heap of a few MB, so with GOGC=100 its collector runs tens of times a second under
// load. Its operators set GOGC (or GOMEMLIMIT) the same way.
const ServerGOGC = "400"

// ServerCallWorkers is the call_workers the suite gives etserver (ETSERVER_CALL_WORKERS,
// unless Options.Env sets it): goroutines that finished an RPC wait for the next one with
// the stacks they grew, instead of a new goroutine per call growing its stack again
// (17 % of etserver's CPU at 100 callers with the default, 7.5 % with 64 workers:
// entrytask-server/BENCHMARKS.md). Operators set it the same way.
const ServerCallWorkers = "256"

// Bounds of an etserver process's life in the suite.
const (
	buildTimeout = 5 * time.Minute
	stopTimeout  = 15 * time.Second
)

// Build compiles etserver into dir and returns the binary's path. It runs `go build` in the
// current directory, which must be inside the benchmarks module (tests and rpcbench run
// there): the module requires entrytask-server as a tool, so its go.mod picks the version.
func Build(ctx context.Context, dir string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	bin := filepath.Join(dir, "etserver")
	out, err := harness.GoCommand(ctx, "build", "-o", bin, EtserverPackage).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("kv: go build %s: %w\n%s", EtserverPackage, err, out)
	}
	return bin, nil
}

// StoreOptions select and prepare the store etserver runs on. With MySQLDSN and RedisAddr
// empty it is etserver's embedded SQLite store; with both set, MySQL + Redis.
type StoreOptions struct {
	// Binary is the etserver binary to run (see Build); required.
	Binary string
	// DataDir is the embedded store's directory; "" means a fresh temporary directory,
	// removed by Close.
	DataDir string
	// MySQLDSN names a MySQL/MariaDB server (go-sql-driver DSN). The suite creates a
	// fresh database <DSN's database or "pocket">_kvbench_<token> on it, which etserver
	// migrates and seeds, and drops it in Close. It first drops the databases (and Redis
	// keys) that runs killed before their Close left behind: see freshDatabase.
	MySQLDSN string
	// RedisAddr is the Redis host:port; etserver's keys get the prefix
	// "kvbench:<token>:" and are deleted by Close.
	RedisAddr string
	// Users is how many users `etserver seed` creates (1..Users, password = username,
	// etserver's seeded quotas, fast insecure hashes); 0 means DefaultUser.
	Users int
	// Env is added to etserver's environment (ETSERVER_* settings, GOGC, GOMEMLIMIT). The
	// environment is otherwise this process's without its ETSERVER_* variables, plus
	// GOGC=ServerGOGC when this process's has no GOGC.
	Env []string
	// Log receives etserver's log (JSON records); nil means io.Discard.
	Log io.Writer
}

// Server is a running `etserver serve` on a fresh store, on loopback ports.
type Server struct {
	// Addr is the RPC address (kv.Store over dora).
	Addr string
	// Admin is the admin HTTP address (/metrics).
	Admin string
	// Mode is ModeEmbedded or ModeMySQLRedis.
	Mode string
	// MySQLDSN is the DSN of the server's fresh database (ModeMySQLRedis).
	MySQLDSN string

	cmd     *exec.Cmd
	done    chan error // Wait's result, once the log is drained
	closers []func() error
	once    sync.Once
	err     error
}

// StartServer prepares the store opts select, seeds it with `etserver seed` and starts
// `etserver serve` on it; it returns once the server has logged its addresses. ctx bounds
// the start, not the server's life: Close stops it.
func StartServer(ctx context.Context, opts StoreOptions) (_ *Server, err error) {
	if opts.Binary == "" {
		return nil, errors.New("kv: no etserver binary (see Build)")
	}
	if (opts.MySQLDSN == "") != (opts.RedisAddr == "") {
		return nil, errors.New("kv: the MySQL DSN and the Redis address go together: set both or neither")
	}
	users := opts.Users
	if users == 0 {
		users = DefaultUser
	}
	if users < 0 {
		return nil, fmt.Errorf("kv: %d users to seed", users)
	}
	s := &Server{Mode: ModeEmbedded}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Close())
		}
	}()
	env := serverEnv(opts.Env, "ETSERVER_LISTEN=127.0.0.1:0", "ETSERVER_ADMIN_LISTEN=127.0.0.1:0", "ETSERVER_LOG_FORMAT=json")
	if opts.MySQLDSN == "" {
		dir := opts.DataDir
		if dir == "" {
			tmp, err := os.MkdirTemp("", "kvbench-")
			if err != nil {
				return s, fmt.Errorf("kv: %w", err)
			}
			s.closers = append(s.closers, func() error { return os.RemoveAll(tmp) })
			dir = tmp
		}
		env = append(env, "ETSERVER_DATA_DIR="+dir)
	} else {
		// A dead run's Redis keys go with its database, before it (see freshDatabase).
		rdb := goredis.NewClient(&goredis.Options{Addr: opts.RedisAddr})
		defer rdb.Close()
		fresh, err := freshDatabase(ctx, opts.MySQLDSN, func(token string) error {
			return deleteKeys(rdb, redisPrefix(token))
		})
		if err != nil {
			return s, err
		}
		s.closers = append(s.closers, fresh.drop)
		prefix := redisPrefix(fresh.token)
		// Runs after the server has stopped (closers run last first).
		s.closers = append(s.closers, func() error {
			rdb := goredis.NewClient(&goredis.Options{Addr: opts.RedisAddr})
			defer rdb.Close()
			return deleteKeys(rdb, prefix)
		})
		s.Mode, s.MySQLDSN = ModeMySQLRedis, fresh.dsn
		env = append(env, "ETSERVER_MYSQL_DSN="+fresh.dsn, "ETSERVER_REDIS_ADDR="+opts.RedisAddr, "ETSERVER_REDIS_PREFIX="+prefix)
	}
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	seed := exec.CommandContext(ctx, opts.Binary, "seed", "--users", strconv.Itoa(users), "--insecure-fast-hashes", "--progress=false")
	seed.Env = env
	if out, err := seed.CombinedOutput(); err != nil {
		return s, fmt.Errorf("kv: etserver seed --users %d: %w\n%s", users, err, out)
	}
	if err := s.start(ctx, opts.Binary, env, log); err != nil {
		return s, err
	}
	return s, nil
}

// serverEnv is etserver's environment: this process's without ETSERVER_* (so a developer's
// settings do not leak in), GOGC=ServerGOGC unless GOGC is set,
// ETSERVER_CALL_WORKERS=ServerCallWorkers, then extra (which may override it) and settings.
func serverEnv(extra []string, settings ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETSERVER_") {
			env = append(env, kv)
		}
	}
	if _, ok := os.LookupEnv("GOGC"); !ok {
		env = append(env, "GOGC="+ServerGOGC)
	}
	env = append(env, "ETSERVER_CALL_WORKERS="+ServerCallWorkers)
	env = append(env, extra...)
	return append(env, settings...)
}

// listening is the record `etserver serve` logs once its listeners are bound.
type listening struct {
	Msg   string `json:"msg"`
	Addr  string `json:"addr"`
	Admin string `json:"admin"`
}

// start runs `etserver serve` and waits, within ctx, for its listening record; the rest of
// its log is copied to log.
func (s *Server) start(ctx context.Context, bin string, env []string, log io.Writer) error {
	s.cmd = exec.Command(bin, "serve")
	s.cmd.Env = env
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("kv: %w", err)
	}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("kv: starting etserver: %w", err)
	}
	s.done = make(chan error, 1)
	ready := make(chan listening, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := false
		for sc.Scan() {
			line := sc.Bytes()
			if !found {
				var rec listening
				if json.Unmarshal(line, &rec) == nil && rec.Msg == "listening" {
					found = true
					ready <- rec
				}
			}
			_, _ = log.Write(append(line, '\n'))
		}
		_, _ = io.Copy(io.Discard, stderr)
		s.done <- s.cmd.Wait()
	}()
	select {
	case rec := <-ready:
		s.Addr, s.Admin = rec.Addr, rec.Admin
		return nil
	case err := <-s.done:
		s.done <- err
		return fmt.Errorf("kv: etserver serve exited before listening: %v", err)
	case <-ctx.Done():
		return fmt.Errorf("kv: etserver serve did not report listening: %w", ctx.Err())
	}
}

// Close stops etserver (SIGTERM: it drains and exits; SIGKILL after stopTimeout) and
// removes what the suite created (temporary directory, database, Redis keys).
func (s *Server) Close() error {
	s.once.Do(func() {
		var errs []error
		if s.cmd != nil && s.cmd.Process != nil {
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			t := time.NewTimer(stopTimeout)
			select {
			case err := <-s.done:
				if err != nil {
					errs = append(errs, fmt.Errorf("kv: etserver: %w", err))
				}
			case <-t.C:
				_ = s.cmd.Process.Kill()
				<-s.done
				errs = append(errs, fmt.Errorf("kv: etserver did not stop within %v of SIGTERM", stopTimeout))
			}
			t.Stop()
		}
		for i := len(s.closers) - 1; i >= 0; i-- {
			errs = append(errs, s.closers[i]())
		}
		s.err = errors.Join(errs...)
	})
	return s.err
}

// metricsTimeout bounds a scrape of etserver's /metrics.
const metricsTimeout = 10 * time.Second

// Usage is what etserver has consumed so far, read from its admin /metrics (Go runtime
// and process collectors): CPU time (process_cpu_seconds_total, 10 ms resolution), heap
// allocations (go_memstats_mallocs_total, go_memstats_alloc_bytes_total) and completed GC
// cycles (go_gc_duration_seconds_count). A scrape itself allocates a few hundred objects
// in etserver, counted too.
func (s *Server) Usage(ctx context.Context) (harness.Usage, error) {
	ctx, cancel := context.WithTimeout(ctx, metricsTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Admin+"/metrics", nil)
	if err != nil {
		return harness.Usage{}, fmt.Errorf("kv: %w", err)
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		return harness.Usage{}, fmt.Errorf("kv: scraping etserver: %w", err)
	}
	defer rsp.Body.Close()
	if rsp.StatusCode != http.StatusOK {
		return harness.Usage{}, fmt.Errorf("kv: scraping etserver: %s", rsp.Status)
	}
	want := map[string]float64{
		"process_cpu_seconds_total":     -1,
		"go_memstats_mallocs_total":     -1,
		"go_memstats_alloc_bytes_total": -1,
		"go_gc_duration_seconds_count":  -1,
	}
	sc := bufio.NewScanner(io.LimitReader(rsp.Body, 16<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if _, known := want[name]; !ok || !known {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			want[name] = v
		}
	}
	if err := sc.Err(); err != nil {
		return harness.Usage{}, fmt.Errorf("kv: scraping etserver: %w", err)
	}
	for name, v := range want {
		if v < 0 {
			return harness.Usage{}, fmt.Errorf("kv: etserver's /metrics has no %s", name)
		}
	}
	return harness.Usage{
		Wall:       time.Now(),
		CPU:        time.Duration(want["process_cpu_seconds_total"] * float64(time.Second)),
		Mallocs:    uint64(want["go_memstats_mallocs_total"]),
		AllocBytes: uint64(want["go_memstats_alloc_bytes_total"]),
		NumGC:      uint32(want["go_gc_duration_seconds_count"]),
	}, nil
}

// redisPrefix is the Redis key prefix of the server with this token.
func redisPrefix(token string) string { return "kvbench:" + token + ":" }

// deleteKeys removes a server's Redis keys: sessions and values under prefix, and the
// shared rate limiter's buckets under "rate:"+prefix.
func deleteKeys(rdb goredis.UniversalClient, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, pattern := range []string{prefix + "*", "rate:" + prefix + "*"} {
		it := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		var keys []string
		for it.Next(ctx) {
			keys = append(keys, it.Val())
		}
		if err := it.Err(); err != nil {
			return fmt.Errorf("kv: deleting redis keys %s: %w", pattern, err)
		}
		for len(keys) > 0 {
			n := min(len(keys), 1000)
			if err := rdb.Del(ctx, keys[:n]...).Err(); err != nil {
				return fmt.Errorf("kv: deleting redis keys %s: %w", pattern, err)
			}
			keys = keys[n:]
		}
	}
	return nil
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
