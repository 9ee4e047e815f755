//go:build !race

package dora_test

// raceEnabled: see race_on_test.go.
const raceEnabled = false
