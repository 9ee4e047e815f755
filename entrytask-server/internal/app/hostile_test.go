package app_test

import (
	"context"
	"errors"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
)

// liveHeap collects garbage and returns the bytes of live heap objects.
func liveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestHostileLoginHashSlots: issue #14 row 11. Password checks run within the server-wide
// bound: with every slot held, further logins wait HashWait and are refused with a
// Concurrent QuotaExceededError carrying RetryAfter = HashWait, without hashing.
func TestHostileLoginHashSlots(t *testing.T) {
	const slots, wait = 2, 50 * time.Millisecond
	e := newEnv(t, func(o *app.Options) { o.MaxConcurrentHashes, o.HashWait = slots, wait })
	entered, hold := make(chan struct{}, 16), make(chan struct{})
	var hashes atomic.Int32
	app.SetHashHook(e.svc, func() {
		hashes.Add(1)
		entered <- struct{}{}
		<-hold
	})
	if got := e.svc.MaxConcurrentHashes(); got != slots {
		t.Fatalf("MaxConcurrentHashes() = %d, want %d", got, slots)
	}
	ctx := context.Background()
	held := make(chan error, slots)
	for i := range slots {
		go func() {
			_, err := e.svc.Login(ctx, "ghost-held-"+strconv.Itoa(i), "x")
			held <- err
		}()
	}
	timeout := time.After(10 * time.Second)
	for range slots {
		select {
		case <-entered:
		case <-timeout:
			t.Fatal("the first logins never reached their password check")
		}
	}

	const excess = 20
	errs := make(chan error, excess)
	start := time.Now()
	for i := range excess {
		go func() {
			_, err := e.svc.Login(ctx, "ghost-"+strconv.Itoa(i), "x")
			errs <- err
		}()
	}
	for range excess {
		err := <-errs
		var qe *domain.QuotaExceededError
		if !errors.As(err, &qe) || !qe.Concurrent || qe.Op != domain.OpLogin || qe.Limit != slots || qe.RetryAfter != wait {
			t.Fatalf("login with every slot busy: %v, want a Concurrent login QuotaExceededError (limit %d, retry %s)", err, slots, wait)
		}
		if !strings.Contains(err.Error(), "all 2 password-check slots busy") {
			t.Fatalf("message %q does not say why", err)
		}
	}
	if waited := time.Since(start); waited < wait {
		t.Fatalf("refused after %s, before the documented wait %s", waited, wait)
	}
	if n := hashes.Load(); n != slots {
		t.Fatalf("%d password checks started with %d slots", n, slots)
	}

	// A login whose context ends while it waits gets the context's error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.svc.Login(cctx, "ghost-cancelled", "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled login waiting for a slot: %v", err)
	}

	close(hold)
	for range slots {
		if err := <-held; err != domain.ErrIncorrectCredentials {
			t.Fatalf("held login: %v", err)
		}
	}
}

// TestHostileLoginThrottleCountsFailures: the per-username throttle counts failed attempts
// only. 100 concurrent logins of one user succeed; wrong passwords are refused once the
// burst is used, without a password check, and the retry hint is exact.
func TestHostileLoginThrottleCountsFailures(t *testing.T) {
	// LoginRate 5, LoginBurst 10. The default slots, with a long wait: under -race on a
	// loaded machine 100 checks may take more than the default 1 s to get through.
	e := newEnv(t, func(o *app.Options) { o.HashWait = 20 * time.Second })
	e.user(t, "worker", "pw", nil)
	var hashes atomic.Int32
	app.SetHashHook(e.svc, func() { hashes.Add(1) })
	ctx := context.Background()

	const workers = 100
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.svc.Login(ctx, "worker", "pw"); err != nil {
				failed.Add(1)
				t.Errorf("worker login: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d concurrent successful logins of one user refused", n, workers)
	}

	hashes.Store(0)
	incorrect, refused := 0, 0
	for i := range 20 {
		_, err := e.svc.Login(ctx, "worker", "guess-"+strconv.Itoa(i))
		var qe *domain.QuotaExceededError
		switch {
		case err == domain.ErrIncorrectCredentials:
			incorrect++
		case errors.As(err, &qe) && qe.Op == domain.OpLogin && !qe.Concurrent:
			refused++
			if qe.RetryAfter != 200*time.Millisecond {
				t.Fatalf("retry hint %s, want 200ms (one failure per 1/5 s)", qe.RetryAfter)
			}
		default:
			t.Fatalf("wrong password %d: %v", i, err)
		}
	}
	if incorrect != app.DefaultLoginBurst || refused != 20-app.DefaultLoginBurst {
		t.Fatalf("20 wrong passwords in an instant: %d checked, %d refused; want %d and %d", incorrect, refused, app.DefaultLoginBurst, 20-app.DefaultLoginBurst)
	}
	if n := hashes.Load(); n != int32(incorrect) {
		t.Fatalf("%d password checks for %d attempts let through", n, incorrect)
	}
	// The right password is refused too while the bucket is empty (otherwise the throttle
	// would only slow guessing down by the failures it saw), and passes after the hint.
	if _, err := e.svc.Login(ctx, "worker", "pw"); !errors.Is(err, domain.ErrQuotaExceeded) {
		t.Fatalf("right password with the bucket empty: %v", err)
	}
	e.clk.Add(200 * time.Millisecond)
	if _, err := e.svc.Login(ctx, "worker", "pw"); err != nil {
		t.Fatalf("right password after the hint: %v", err)
	}
	// Another username has its own bucket.
	if _, err := e.svc.Login(ctx, "other", "x"); err != domain.ErrIncorrectCredentials {
		t.Fatalf("another username: %v", err)
	}
}

// TestHostileLoginHugeUsernames: issue #14 row 12. A 4 MB username is refused by validation
// before any key is built from it: 40 of them leave nothing live (the throttle's LRU used
// to keep "login:"+username: 150 such logins left 600 MB).
func TestHostileLoginHugeUsernames(t *testing.T) {
	e := newEnv(t, nil)
	const n, size = 40, 4 << 20
	const budget = 16 << 20
	buf := make([]byte, size)
	base := liveHeap()
	for i := range n {
		buf[0] = byte('a' + i%26)
		buf[1] = byte('a' + i/26)
		name := string(buf) // a distinct string each time, as from distinct requests
		_, err := e.svc.Login(context.Background(), name, "x")
		if !errors.Is(err, domain.ErrInvalidArgument) || !strings.Contains(err.Error(), "username is 4194304 bytes, limit 255") {
			t.Fatalf("login %d with a %d-byte username: %v, want ErrInvalidArgument naming the limit", i, size, err)
		}
	}
	grew := int64(liveHeap()) - int64(base)
	runtime.KeepAlive(e.svc) // the service and its limiter stay in use
	if grew > budget {
		t.Fatalf("live heap grew %d bytes after %d logins with %d-byte usernames; budget %d", grew, n, size, budget)
	}
}
