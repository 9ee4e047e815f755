//go:build !race

package app_test

// timingHashMiB is the argon2id memory of TestLoginTimingHidesUsernames (about 8 ms a
// derivation on this project's 2-core test box).
const timingHashMiB = 8
