//go:build !linux

package bench

import "time"

// fineSleep sleeps for d with the runtime's timer (no finer sleep is wired on this OS).
func fineSleep(d time.Duration) { time.Sleep(d) }
