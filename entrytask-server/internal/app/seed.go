package app

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
)

// DefaultSeedBatch is the number of users per multi-row insert when SeedOptions.BatchSize is 0.
const DefaultSeedBatch = 1000

// SeedOptions configure Seed; zero values mean the default named beside each field.
type SeedOptions struct {
	Users     int // users to create: usernames "1".."Users"; required, > 0
	BatchSize int // users per insert; 0 means DefaultSeedBatch
	Workers   int // hashing goroutines; 0 means runtime.GOMAXPROCS(0)
	// PasswordParams is the argon2id cost of the seeded hashes; zero fields mean the
	// domain defaults (m=19456 KiB, t=2, p=1), about 30 ms of one core per user.
	PasswordParams domain.PasswordParams
	// InsecureFastHashes hashes with domain.FixturePasswordParams (8 KiB, 1 pass) instead,
	// whatever PasswordParams says: ~12,700 guesses per second per core for an attacker
	// holding the table. For demos, benchmarks and tests only; a login that succeeds with
	// such a hash replaces it with one of the server's configured cost.
	InsecureFastHashes bool
	Progress           func(n int) // if set, called (from one goroutine) with each batch's size as it is done
}

// SeedResult counts what Seed did.
type SeedResult struct {
	Created int // users inserted
	Skipped int // users that already existed (left unchanged)
}

// Seed creates benchmark users 1..opts.Users whose password is their username, each with
// domain.SeededQuota(uid), hashed at opts.PasswordParams (the configured cost) unless
// opts.InsecureFastHashes asks for fixture hashes. Passwords are hashed on all cores; each batch is written with
// multi-row inserts in one transaction. Existing usernames are skipped, so re-running Seed
// is cheap and harmless.
func Seed(ctx context.Context, accounts domain.Accounts, opts SeedOptions) (SeedResult, error) {
	if opts.Users <= 0 {
		return SeedResult{}, fmt.Errorf("app: seed: users must be > 0, got %d", opts.Users)
	}
	batch := opts.BatchSize
	if batch <= 0 {
		batch = DefaultSeedBatch
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	params := opts.PasswordParams.WithDefaults()
	if opts.InsecureFastHashes {
		params = domain.FixturePasswordParams
	}
	if err := params.Validate(); err != nil {
		return SeedResult{}, fmt.Errorf("app: seed: %w", err)
	}

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct{ first, n int }
	type done struct {
		accounts []domain.NewAccount
		n        int
		err      error
	}
	jobs := make(chan job)
	results := make(chan done, workers)
	go func() {
		defer close(jobs)
		for first := 1; first <= opts.Users; first += batch {
			select {
			case jobs <- job{first, min(batch, opts.Users-first+1)}:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				accs, err := seedBatch(ctx, accounts, j.first, j.n, params)
				select {
				case results <- done{accs, j.n, err}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()

	var res SeedResult
	var firstErr error
	for r := range results {
		if firstErr != nil {
			continue // drain so the workers can exit
		}
		if r.err == nil && len(r.accounts) > 0 {
			var created int
			created, r.err = accounts.CreateAccounts(ctx, r.accounts)
			res.Created += created
			res.Skipped += r.n - created
		} else if r.err == nil {
			res.Skipped += r.n
		}
		if r.err != nil {
			firstErr = r.err
			cancel()
			continue
		}
		if opts.Progress != nil {
			opts.Progress(r.n)
		}
	}
	if firstErr == nil && parent.Err() != nil {
		firstErr = fmt.Errorf("app: seed: %w", parent.Err())
	}
	return res, firstErr
}

// seedBatch hashes the passwords of users first..first+n-1 that do not exist yet.
func seedBatch(ctx context.Context, accounts domain.Accounts, first, n int, params domain.PasswordParams) ([]domain.NewAccount, error) {
	names := make([]string, n)
	for i := range names {
		names[i] = strconv.Itoa(first + i)
	}
	existing, err := accounts.ExistingUsernames(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("app: seed: checking users %d..%d: %w", first, first+n-1, err)
	}
	out := make([]domain.NewAccount, 0, n-len(existing))
	for i, name := range names {
		if existing[name] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := domain.HashPassword(name, params)
		if err != nil {
			return nil, fmt.Errorf("app: seed: %w", err)
		}
		q := domain.SeededQuota(int64(first + i))
		out = append(out, domain.NewAccount{Username: name, PasswordHash: h, Quota: &q})
	}
	return out, nil
}
