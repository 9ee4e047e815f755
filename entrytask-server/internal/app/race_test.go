//go:build race

package app_test

// timingHashMiB is the argon2id memory of TestLoginTimingHidesUsernames: under -race a
// derivation is about five times slower, so a smaller one still dominates the noise.
const timingHashMiB = 2
