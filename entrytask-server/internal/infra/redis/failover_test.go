package redis_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/redis"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testenv"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testkit"
)

// Failover test bounds: how long service may take to come back after the kill (the
// deployments of scripts/redis-scale.sh detect a dead node after 1 s), how long the load
// runs at most, and after how long past recovery no call may fail any more.
const (
	failoverWithin = 15 * time.Second
	failoverLoad   = 60 * time.Second
	failoverSettle = time.Second
	failoverUsers  = 60
	failoverCalls  = 8 // goroutines calling at once
)

// call is one Put or Get of the load: which user, when it started and ended, its error.
type call struct {
	user       int64
	start, end time.Time
	err        error
}

// failoverRun is the load of a failover test and what it saw.
type failoverRun struct {
	s        *redis.Store
	affected func(user int64) bool // the user's values live on the node killed
	mu       sync.Mutex
	calls    []call
	ok       testkit.Counter
	killedAt atomic.Pointer[time.Time]
	back     chan time.Time // the first success of an affected user's call started after the kill
}

// load runs failoverCalls goroutines of Put and Get over failoverUsers users until ctx is
// done, each call bounded by a 2 s deadline.
func (r *failoverRun) load(ctx context.Context) {
	var wg sync.WaitGroup
	var once sync.Once
	for g := range failoverCalls {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				user := int64((g*7 + i) % failoverUsers)
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				start := time.Now()
				var err error
				if i%2 == 0 {
					err = r.s.Put(cctx, user, "k", []byte(strconv.Itoa(i)))
				} else {
					_, err = r.s.Get(cctx, user, "k")
				}
				cancel()
				if ctx.Err() != nil {
					return // the end of the test, not a failure
				}
				end := time.Now()
				r.mu.Lock()
				r.calls = append(r.calls, call{user, start, end, err})
				r.mu.Unlock()
				if err == nil {
					r.ok.Add(1)
					if k := r.killedAt.Load(); k != nil && start.After(*k) && r.affected(user) {
						once.Do(func() { r.back <- end })
					}
				}
			}
		})
	}
	wg.Wait()
}

// runFailover loads s, kills a node with kill once 200 calls succeeded, waits until an
// affected user's call succeeds again (at most failoverWithin), lets the load run 2 s more
// and checks: calls of unaffected users never failed, affected ones failed only between
// the kill and the recovery (plus failoverSettle for calls already retrying), and the
// session watch is back and reports a change afterwards. It returns the recovery time.
func runFailover(t *testing.T, s, watcher *redis.Store, affected func(int64) bool, kill func()) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), failoverLoad)
	defer cancel()
	for u := range int64(failoverUsers) {
		if err := s.Put(ctx, u, "k", []byte("0")); err != nil {
			t.Fatal(err)
		}
	}
	obs := make(observer, 1000)
	wctx, wcancel := context.WithCancel(ctx)
	wdone := make(chan error, 1)
	go func() { wdone <- watcher.WatchSessions(wctx, obs) }()
	defer func() { wcancel(); <-wdone }()
	if ev := obs.next(t, true); ev != "watched" {
		t.Fatalf("first watch report %q", ev)
	}

	r := &failoverRun{s: s, affected: affected, back: make(chan time.Time, 1)}
	ldone := make(chan struct{})
	lctx, lcancel := context.WithCancel(ctx)
	go func() { defer close(ldone); r.load(lctx) }()
	defer func() { lcancel(); <-ldone }()
	r.ok.WaitAtLeast(t, testkit.Context(t, 10*time.Second), 200, "calls succeeding before the kill")
	killedAt := time.Now()
	kill()
	r.killedAt.Store(&killedAt)
	var backAt time.Time
	select {
	case backAt = <-r.back:
	case <-time.After(failoverWithin):
		t.Fatalf("no call of a user on the killed node succeeded within %v of the kill", failoverWithin)
	}
	recovery := backAt.Sub(killedAt)
	okAtRecovery := r.ok.Load()
	r.ok.WaitAtLeast(t, ctx, okAtRecovery+500, "500 more calls succeeding after recovery")
	lcancel()
	<-ldone

	var failedOther, failedLate, failedAffected int
	var examples []string
	for _, c := range r.calls {
		if c.err == nil {
			continue
		}
		switch {
		case !affected(c.user):
			failedOther++
		case c.end.Before(killedAt) || c.start.After(backAt.Add(failoverSettle)):
			failedLate++
		default:
			failedAffected++
			continue
		}
		if len(examples) < 5 {
			examples = append(examples, fmt.Sprintf("user %d at kill%+v: %v", c.user, c.start.Sub(killedAt), c.err))
		}
	}
	t.Logf("%d calls; recovery %v after the kill; %d calls of affected users failed in the window", len(r.calls), recovery.Round(time.Millisecond), failedAffected)
	if failedOther > 0 || failedLate > 0 {
		t.Errorf("%d calls of users on surviving nodes failed, %d outside the failover window:\n%s", failedOther, failedLate, strings.Join(examples, "\n"))
	}

	// The session watch followed the failover: watched again, and reporting changes.
	if err := waitWatched(t, obs, failoverWithin); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		id := "after" + strconv.Itoa(i)
		if err := s.CreateSession(ctx, domain.Session{ID: id, UserID: 1, Username: "u", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if ev := obs.next(t, true); ev != "changed "+id {
			t.Fatalf("after the failover, CreateSession: %q, want changed %s", ev, id)
		}
	}
	return recovery
}

// waitWatched waits for the observer's latest report to be "watched" with no other
// report queued behind it.
func waitWatched(t *testing.T, o observer, within time.Duration) error {
	deadline := time.After(within)
	last := ""
	for {
		select {
		case ev := <-o:
			last = ev
		case <-deadline:
			return fmt.Errorf("session watch not back within %v (last report %q)", within, last)
		case <-time.After(100 * time.Millisecond):
			if last == "watched" {
				return nil
			}
		}
	}
}

// TestFailoverCluster: a master of a 3-master cluster (with one replica each) is
// SIGKILLed under load; its replica takes over. Calls of users whose values live on the
// other masters never fail; those of its users fail only until the failover.
func TestFailoverCluster(t *testing.T) {
	testenv.NeedScale(t)
	d := testenv.StartRedis(t, "cluster")
	m := testenv.RedisMode{Name: "cluster", Addrs: strings.Split(d.Facts["addrs"], ",")}
	s := openIn(t, m, redis.Options{})
	watcher := openIn(t, m, redis.Options{Prefix: s.Prefix()})
	cc := s.Client().(*goredis.ClusterClient)
	ctx := context.Background()
	victim, err := cc.MasterForKey(ctx, s.Prefix()+"kv:{0}:k")
	if err != nil {
		t.Fatal(err)
	}
	victimAddr := victim.Options().Addr
	on := map[int64]bool{}
	for u := range int64(failoverUsers) {
		n, err := cc.MasterForKey(ctx, s.Prefix()+"kv:{"+strconv.FormatInt(u, 10)+"}:k")
		if err != nil {
			t.Fatal(err)
		}
		on[u] = n.Options().Addr == victimAddr
	}
	recovery := runFailover(t, s, watcher, func(u int64) bool { return on[u] }, func() { d.Kill(t, victimAddr) })
	t.Logf("cluster master %s killed: service back for its users after %v", victimAddr, recovery.Round(time.Millisecond))
}

// TestFailoverSentinel: the primary watched by 3 sentinels is SIGKILLed under load; the
// sentinels promote the replica and go-redis follows. Every call fails only until then.
func TestFailoverSentinel(t *testing.T) {
	testenv.NeedScale(t)
	d := testenv.StartRedis(t, "sentinel")
	m := testenv.RedisMode{Name: "sentinel", Addrs: strings.Split(d.Facts["sentinels"], ","), MasterName: d.Facts["master_name"]}
	s := openIn(t, m, redis.Options{})
	watcher := openIn(t, m, redis.Options{Prefix: s.Prefix()})
	recovery := runFailover(t, s, watcher, func(int64) bool { return true }, func() { d.Kill(t, d.Facts["primary"]) })
	t.Logf("sentinel primary %s killed: service back after %v", d.Facts["primary"], recovery.Round(time.Millisecond))
}
