package domain_test

import (
	"fmt"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
)

func ExampleHashPassword() {
	h, err := domain.HashPassword("s3cret", domain.FixturePasswordParams)
	if err != nil {
		fmt.Println(err)
		return
	}
	ok, _ := domain.VerifyPassword(h, "s3cret")
	bad, _ := domain.VerifyPassword(h, "guess")
	p, _ := domain.PasswordHashParams(h) // every hash records its own cost
	fmt.Println(ok, bad, p.MemoryKiB, p.Time, p.Threads)
	// Output: true false 8 1 1
}

func ExampleSeededQuota() {
	fmt.Println(domain.SeededQuota(1), domain.SeededQuota(50000), domain.Burst(6))
	// Output: {6 4} {100000 50003} 1
}
