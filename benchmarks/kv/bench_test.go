package kv_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
	"github.com/seed857a6cbd/pocket/benchmarks/kv"
)

// benchCallers are the entry task's 12 and 100 callers, and one.
var benchCallers = []int{1, 12, 100}

// BenchmarkKV is the entry-task suite: the etserver binary (users 1..33,333 seeded; the
// load logs in once as the last LoadUsers users, whose read quotas are the maximum),
// closed-loop reads and writes of one key with a 2000-byte value, at 1, 12 and 100 callers
// of one client in this process. The embedded (SQLite) store always; MySQL + Redis as well
// when POCKET_TEST_MYSQL_DSN and POCKET_TEST_REDIS_ADDR name them. Allocations per op are
// the client's (etserver is another process; rpcbench reports both).
func BenchmarkKV(b *testing.B) {
	for _, st := range stores(b) {
		b.Run("store="+st.mode, func(b *testing.B) {
			opts := st.opts
			opts.Users = kv.DefaultUser
			srv := startServer(b, opts)
			for _, name := range kv.Names() {
				b.Run(name, func(b *testing.B) {
					f, err := kv.Lookup(name)
					if err != nil {
						b.Fatal(err)
					}
					c := dial(b, f, srv)
					for _, op := range kv.Ops {
						b.Run("op="+op, func(b *testing.B) {
							// Sub-benchmarks run several times: log in once, here.
							newWorker, err := kv.Load{Op: op}.Prepare(context.Background(), c)
							if err != nil {
								b.Fatal(err)
							}
							for _, n := range benchCallers {
								b.Run(fmt.Sprintf("callers=%d", n), func(b *testing.B) {
									benchCalls(b, newWorker, n)
								})
							}
						})
					}
				})
			}
		})
	}
}

func benchCalls(b *testing.B, newWorker func(int) (harness.Worker, error), n int) {
	calls := make([]harness.Call, n)
	for i := range calls {
		w, err := newWorker(i)
		if err != nil {
			b.Fatal(err)
		}
		calls[i] = w.Call
	}
	b.SetBytes(kv.DefaultValue)
	b.ReportAllocs()
	fixed := harness.NewFixed(calls)
	b.ResetTimer()
	err := fixed.RunN(b.N)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	sum := fixed.Summary()
	b.ReportMetric(float64(sum.P50)/float64(time.Microsecond), "p50-µs")
	b.ReportMetric(float64(sum.P99)/float64(time.Microsecond), "p99-µs")
}
