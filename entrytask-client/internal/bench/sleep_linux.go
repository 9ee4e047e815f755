package bench

import (
	"syscall"
	"time"
)

// fineSleep blocks the calling thread in nanosleep(2) for d, which the kernel's
// high-resolution timers end within the thread's timer slack (50 µs by default).
func fineSleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	_ = syscall.Nanosleep(&ts, nil) // EINTR: the caller checks the time and sleeps again
}
