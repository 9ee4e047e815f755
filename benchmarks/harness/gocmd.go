package harness

import (
	"context"
	"os/exec"
)

// GoCommand returns the command running the go tool with args in the normal scheduling
// class (SCHED_OTHER). The benchmarks are often started under a real-time class
// (`chrt -f 50 rpcbench ...`) so that the measured processes are not preempted, and
// children inherit the class. The go tool must not run in it: on a 2-core machine a
// linker under SCHED_FIFO spun at 95 % CPU for 12 minutes without finishing (one of its
// threads waiting for another that the real-time class never let run). When chrt
// (util-linux, like taskset) is installed the command resets the class with
// `chrt --other 0`, which also works without privileges; otherwise it runs go directly.
func GoCommand(ctx context.Context, args ...string) *exec.Cmd {
	if chrt, err := exec.LookPath("chrt"); err == nil {
		return exec.CommandContext(ctx, chrt, append([]string{"--other", "0", "go"}, args...)...)
	}
	return exec.CommandContext(ctx, "go", args...)
}
