package app_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
)

func TestSeed(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.user(t, "3", "not-3", nil) // an existing user is left alone
	var progress int
	res, err := app.Seed(ctx, e.store, app.SeedOptions{Users: 25, InsecureFastHashes: true, BatchSize: 10, Workers: 3, Progress: func(n int) { progress += n }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 24 || res.Skipped != 1 || progress != 25 {
		t.Fatalf("Seed = %+v, progress %d; want 24 created, 1 skipped, progress 25", res, progress)
	}
	for _, uid := range []int{1, 7, 25} {
		name := fmt.Sprint(uid)
		u, err := e.store.UserByUsername(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if p, err := domain.PasswordHashParams(u.PasswordHash); err != nil || p != domain.FixturePasswordParams {
			t.Fatalf("user %s hash params %+v %v, want fixture params", name, p, err)
		}
		if _, err := e.svc.Login(ctx, name, name); err != nil {
			t.Fatalf("Login(%s, %s): %v", name, name, err)
		}
		if q, err := e.svc.QuotaOf(ctx, u.ID); err != nil || q != domain.SeededQuota(int64(uid)) {
			t.Fatalf("quota of %s = %+v %v", name, q, err)
		}
	}
	if _, err := e.svc.Login(ctx, "3", "3"); err != domain.ErrIncorrectCredentials {
		t.Fatalf("existing user 3's password was replaced: %v", err)
	}
	res, err = app.Seed(ctx, e.store, app.SeedOptions{Users: 25, InsecureFastHashes: true, BatchSize: 7})
	if err != nil || res.Created != 0 || res.Skipped != 25 {
		t.Fatalf("second Seed = %+v %v", res, err)
	}
	if _, err := app.Seed(ctx, e.store, app.SeedOptions{}); err == nil {
		t.Fatal("Seed with 0 users accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := app.Seed(cctx, e.store, app.SeedOptions{Users: 100, InsecureFastHashes: true, BatchSize: 10}); err == nil {
		t.Fatal("Seed with a cancelled context succeeded")
	}
}

// TestSeedConfiguredCost: without InsecureFastHashes, Seed hashes at the parameters it is
// given (the configured cost), never at fixture cost.
func TestSeedConfiguredCost(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := app.Seed(ctx, e.store, app.SeedOptions{Users: 2, PasswordParams: cheap}); err != nil {
		t.Fatal(err)
	}
	if p := hashParamsOf(t, e.store, "2"); p != cheap {
		t.Fatalf("seeded hash %v, want %v", p, cheap)
	}
	if _, err := app.Seed(ctx, e.store, app.SeedOptions{Users: 3, PasswordParams: cheap, InsecureFastHashes: true}); err != nil {
		t.Fatal(err)
	}
	if p := hashParamsOf(t, e.store, "3"); p != domain.FixturePasswordParams {
		t.Fatalf("insecure seeded hash %v, want fixture", p)
	}
}
