// Package e2e tests the example commands as the user runs them: its
// TestMain builds every command of ../cmd into a temporary directory, and
// the tests start the binaries on loopback ports, feed them, kill them
// with SIGKILL in the middle of transfers and restart them.
package e2e
