//go:build !race

package nap

// raceEnabled: the race detector slows the hostile tests that move hundreds
// of megabytes about sevenfold; they scale down under it.
const raceEnabled = false
