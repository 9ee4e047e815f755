package bench

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var errDown = errors.New("connection refused")

func isDown(err error) bool { return errors.Is(err, errDown) }

// TestUnreachableStops: against a server that never answers, a run of a million requests
// backs off and ends after DefaultMaxUnreachable failed probes, 25+50+…+800+1000 ms of
// virtual time after the first, and reports the outage once per second.
func TestUnreachableStops(t *testing.T) {
	for _, tc := range []struct {
		name string
		rate float64
		c    int
	}{
		{"closed/1", 0, 1},
		{"closed/8", 0, 8},
		{"open/8", 10000, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := NewVirtualClock(epoch)
			var mu sync.Mutex
			var reports []int
			res, err := Run(context.Background(), Options{
				Concurrency: tc.c,
				Requests:    1_000_000,
				Rate:        tc.rate,
				Clock:       clock,
				Unreachable: isDown,
				OnUnreachable: func(failed int, err error) {
					mu.Lock()
					reports = append(reports, failed)
					mu.Unlock()
				},
			}, func(ctx context.Context, _ int, _ int64) error { return errDown })
			if err != nil {
				t.Fatal(err)
			}
			if !errors.Is(res.Stopped, ErrUnreachable) || !errors.Is(res.Stopped, errDown) {
				t.Fatalf("Stopped = %v, want ErrUnreachable wrapping the last error", res.Stopped)
			}
			// Each probe round sends at most one request per worker.
			if res.Failure < DefaultMaxUnreachable || res.Failure > int64(tc.c*(DefaultMaxUnreachable+1)) {
				t.Fatalf("%d failures, want %d..%d", res.Failure, DefaultMaxUnreachable, tc.c*(DefaultMaxUnreachable+1))
			}
			// 25+50+100+200+400+800+1000 ms of back-off before the eighth probe.
			if want := 2575 * time.Millisecond; tc.c == 1 && res.Wall != want {
				t.Fatalf("wall %v, want %v", res.Wall, want)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(reports) < 2 || len(reports) > 4 || reports[0] != 1 {
				t.Fatalf("reports at failures %v: want the first and then about one a second", reports)
			}
		})
	}
}

// TestUnreachableRecovers: a server away for five probes and back again costs those
// failures and a back-off; the run then completes, and each failure is counted.
func TestUnreachableRecovers(t *testing.T) {
	clock := NewVirtualClock(epoch)
	var calls atomic.Int64
	res, err := Run(context.Background(), Options{
		Concurrency: 1,
		Requests:    100,
		Clock:       clock,
		Unreachable: isDown,
	}, func(ctx context.Context, _ int, _ int64) error {
		if calls.Add(1) <= 5 {
			return errDown
		}
		clock.Advance(time.Millisecond)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped != nil || res.Success != 95 || res.Failure != 5 {
		t.Fatalf("stopped %v, %d ok, %d failed; want nil, 95, 5", res.Stopped, res.Success, res.Failure)
	}
	// Back-off 25+50+100+200+400 ms, then 95 requests of 1 ms; the back-off stays out of
	// the successful requests' latencies.
	if want := 775*time.Millisecond + 95*time.Millisecond; res.Wall != want || res.Max != time.Millisecond {
		t.Fatalf("wall %v max %v, want %v and 1ms", res.Wall, res.Max, want)
	}
}

// TestOtherFailuresDoNotBackOff: failures that are not about reaching the server are only
// counted, and a negative MaxUnreachable never ends a run.
func TestOtherFailuresDoNotBackOff(t *testing.T) {
	clock := NewVirtualClock(epoch)
	res, err := Run(context.Background(), Options{
		Concurrency: 2, Requests: 500, Clock: clock, Unreachable: isDown,
	}, func(context.Context, int, int64) error { return errors.New("quota") })
	if err != nil || res.Failure != 1000 || res.Wall != 0 || res.Stopped != nil {
		t.Fatalf("err %v, %d failed in %v (stopped %v); want 1000 at once", err, res.Failure, res.Wall, res.Stopped)
	}
	res, err = Run(context.Background(), Options{
		Concurrency: 1, Requests: 20, Clock: clock, Unreachable: isDown, MaxUnreachable: -1,
		BackoffMin: time.Millisecond, BackoffMax: 2 * time.Millisecond,
	}, func(context.Context, int, int64) error { return errDown })
	if err != nil || res.Failure != 20 || res.Stopped != nil {
		t.Fatalf("err %v, %d failed (stopped %v); want 20 and no stop", err, res.Failure, res.Stopped)
	}
	// Pauses between the 20 probes: 1 ms, then 2 ms (the cap) eighteen times.
	if want := 37 * time.Millisecond; res.Wall != want {
		t.Fatalf("wall %v, want %v", res.Wall, want)
	}
}
