package app_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/domain"
)

// TestLoginTimingHidesUsernames: a login of an unknown username costs what a wrong
// password of an existing user costs, whether that user's hash is at the configured cost
// or an outdated fixture hash (which pays for the upgrade it would have had), and all
// three get the very same error. Medians of 50 interleaved attempts each must be within
// 20 % of each other. The cost (timingHashMiB: 8 MiB, 2 MiB under -race; 1 pass) is small enough for a fast test and large
// enough (milliseconds) that the lookup and the scheduler are noise.
func TestLoginTimingHidesUsernames(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	params := domain.PasswordParams{Time: 1, MemoryKiB: timingHashMiB << 10, Threads: 1}
	e := newEnv(t, func(o *app.Options) {
		o.PasswordParams = params
		o.LoginRate, o.LoginBurst = 1_000_000, 1_000_000 // this test is not about the throttle
		o.MaxConcurrentHashes = 1
	})
	ctx := context.Background()
	for name, p := range map[string]domain.PasswordParams{"current": params, "fixture": domain.FixturePasswordParams} {
		h, err := domain.HashPassword("the right one", p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.CreateUser(ctx, name, h); err != nil {
			t.Fatal(err)
		}
	}
	const attempts = 50
	cases := []struct{ name, user string }{
		{"unknown user", ""}, // a new unknown username each time
		{"wrong password", "current"},
		{"wrong password, fixture hash", "fixture"},
	}
	times := make([][]time.Duration, len(cases))
	var firstErr error
	for i := range attempts {
		for c, tc := range cases {
			user := tc.user
			if user == "" {
				user = fmt.Sprintf("ghost%d", i)
			}
			start := time.Now()
			_, err := e.svc.Login(ctx, user, "a wrong guess")
			times[c] = append(times[c], time.Since(start))
			if err != domain.ErrIncorrectCredentials {
				t.Fatalf("%s: %v, want ErrIncorrectCredentials itself", tc.name, err)
			}
			if firstErr == nil {
				firstErr = err
			} else if err.Error() != firstErr.Error() {
				t.Fatalf("%s: error %q differs from %q", tc.name, err, firstErr)
			}
		}
	}
	medians := make([]time.Duration, len(cases))
	for c := range cases {
		slices.Sort(times[c])
		medians[c] = times[c][attempts/2]
	}
	t.Logf("medians over %d attempts: unknown %s, wrong password %s, wrong password on a fixture hash %s", attempts, medians[0], medians[1], medians[2])
	for c := 1; c < len(cases); c++ {
		lo, hi := min(medians[0], medians[c]), max(medians[0], medians[c])
		if float64(hi-lo) > 0.2*float64(hi) {
			t.Errorf("median %s %s vs unknown user %s: differ by more than 20 %%", cases[c].name, medians[c], medians[0])
		}
	}
	if p := hashParamsOf(t, e.store, "fixture"); p != domain.FixturePasswordParams {
		t.Fatalf("wrong passwords changed the fixture hash to %v", p)
	}
}
