//go:build race

package dora_test

// raceEnabled: under the race detector sync.Pool drops a share of what is put back, so
// pooled buffers are allocated again now and then (TestLargeCallBytesAllocated).
const raceEnabled = true
