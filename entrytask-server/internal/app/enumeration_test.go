package app_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
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
	// Each attempt times the three cases back to back, so a burst of load (other test
	// packages run in parallel) slows all three of one attempt alike: compare them pairwise,
	// attempt by attempt, and take the median of those ratios.
	for c := 1; c < len(cases); c++ {
		ratios := make([]float64, attempts)
		for i := range attempts {
			ratios[i] = float64(times[c][i]) / float64(times[0][i])
		}
		slices.Sort(ratios)
		if r := ratios[attempts/2]; r < 0.8 || r > 1.25 {
			t.Errorf("%s takes %.2f× an unknown user's login (median of %d paired attempts); want within 20 %%", cases[c].name, r, attempts)
		}
	}
	medians := make([]time.Duration, len(cases))
	for c := range cases {
		sorted := slices.Clone(times[c])
		slices.Sort(sorted)
		medians[c] = sorted[attempts/2]
	}
	t.Logf("medians over %d attempts: unknown %s, wrong password %s, wrong password on a fixture hash %s", attempts, medians[0], medians[1], medians[2])
	if p := hashParamsOf(t, e.store, "fixture"); p != domain.FixturePasswordParams {
		t.Fatalf("wrong passwords changed the fixture hash to %v", p)
	}
}
