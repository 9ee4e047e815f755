package api_test

import (
	"bytes"
	"context"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/ratelimit"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

// benchValue is the value size of the end-to-end benchmarks: what older clients send.
const benchValue = 2000

// benchServer is an etserver on MySQL+Redis (POCKET_TEST_MYSQL_DSN, POCKET_TEST_REDIS_ADDR)
// with one logged-in user whose quotas are the maximum, and a context carrying its token.
func benchServer(b *testing.B, mutate func(*app.Options)) (*server, context.Context) {
	be := mysqlRedisBackend(b)
	clk := &clock{now: time.Now()}
	st := be.open(b, clk)
	createUser(b, st, "bench", "pw")
	s := startServer(b, st, clk, func(o *app.Options) {
		o.Now = time.Now // real time: the token buckets must refill
		o.Limiter = ratelimit.NewLocal(ratelimit.Options{})
		o.DefaultQuota = domain.Quota{Read: domain.MaxQuota, Write: domain.MaxQuota}
		o.ValueMaxBytes = 0
		if mutate != nil {
			mutate(o)
		}
	})
	ctx := withToken(context.Background(), login(b, s, "bench", "pw"))
	if _, err := s.kv.WriteSecureMessage(ctx, &kvpb.WriteSecureMessageReq{Key: []byte("a"), Value: bytes.Repeat([]byte("v"), benchValue)}); err != nil {
		b.Fatal(err)
	}
	return s, ctx
}

// runCallers runs call from callers goroutines (b.SetParallelism) and reports calls/s, the
// p50/p99 latency of every call (closed loop: each caller waits for its answer) and the
// process's CPU time per call (client and server together; robust to a loaded machine,
// unlike the wall-clock figures).
func runCallers(b *testing.B, callers int, call func() error) {
	procs := max(1, callers/runtime.GOMAXPROCS(0))
	b.SetParallelism(procs)
	var mu sync.Mutex
	var lat []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		mine := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			if err := call(); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(lat)), "cpu-µs/op")
}

// processCPU returns the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkReadMySQLRedis(b *testing.B) { benchRead(b, nil) }

// BenchmarkReadMySQLRedisSessionCache: the same with app.Options.SessionCacheTTL (config
// session.cache_ttl) on, so a read is one Redis round trip instead of two.
func BenchmarkReadMySQLRedisSessionCache(b *testing.B) {
	benchRead(b, func(o *app.Options) { o.SessionCacheTTL = time.Second })
}

// BenchmarkReadMySQLRedisSessionCacheWatched: the session cache as etserver runs it by
// default (config session.cache_ttl 10s, session.cache_watch true).
func BenchmarkReadMySQLRedisSessionCacheWatched(b *testing.B) {
	benchRead(b, func(o *app.Options) { o.SessionCacheTTL, o.SessionCacheWatch = 10*time.Second, true })
}

func benchRead(b *testing.B, mutate func(*app.Options)) {
	s, ctx := benchServer(b, mutate)
	req := &kvpb.ReadSecureMessageReq{Key: []byte("a")}
	for _, callers := range []int{12, 100} {
		b.Run(callersName(callers), func(b *testing.B) {
			runCallers(b, callers, func() error {
				_, err := s.kv.ReadSecureMessage(ctx, req)
				return err
			})
		})
	}
}

func BenchmarkWriteMySQLRedis(b *testing.B) {
	s, ctx := benchServer(b, nil)
	req := &kvpb.WriteSecureMessageReq{Key: []byte("w"), Value: bytes.Repeat([]byte("v"), benchValue)}
	for _, callers := range []int{12, 100} {
		b.Run(callersName(callers), func(b *testing.B) {
			runCallers(b, callers, func() error {
				_, err := s.kv.WriteSecureMessage(ctx, req)
				return err
			})
		})
	}
}

func callersName(n int) string { return "callers=" + strconv.Itoa(n) }
