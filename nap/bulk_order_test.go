package nap

import (
	"bytes"
	"fmt"
	"testing"
)

// TestConcurrentLargeMessagesWithinConnBudget: 16 callers each sending a 1.125 MiB message
// on one connection (18 MiB in all, above the 16 MiB default connection budget) all
// succeed, in both directions (the echo answers are as large). A sender that interleaved
// the 16 messages made the receiver reserve all 16 sizes at once, fill its budget with
// messages none of which could complete, and reset the largest (RESOURCE_EXHAUSTED).
func TestConcurrentLargeMessagesWithinConnBudget(t *testing.T) {
	const callers, size, rounds = 16, 1<<20 + 128<<10, 3
	c, _ := echoPair(t, nil, nil)
	for r := range rounds {
		errs := make(chan error, callers)
		for i := range callers {
			go func() {
				msg := bytes.Repeat([]byte{byte(i)}, size)
				got, err := call(testCtx(t), c, msg)
				if err == nil && !bytes.Equal(got, msg) {
					err = fmt.Errorf("caller %d: echo differs (%d bytes)", i, len(got))
				}
				errs <- err
			}()
		}
		for range callers {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", r, err)
			}
		}
	}
}
