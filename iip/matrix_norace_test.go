//go:build !race

package iip

import (
	"time"

	"github.com/seed857a6cbd/pocket/iip/internal/testkit"
)

// matrixUnderRace leaves the 64 MiB case out of the compatibility matrix
// under the race detector, which makes it take 8 s or more.
const matrixUnderRace = false

// largeFrameWriteTimeout is the deployed-peer model's frame write deadline
// in the tests that move 16 MiB frames to or from it: the deployed peer's
// 3 s (fact 2). See matrix_race_test.go for the race detector's.
const largeFrameWriteTimeout time.Duration = testkit.DeployedIIPWriteTimeout
