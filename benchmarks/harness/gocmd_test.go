package harness

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestGoCommand runs the go tool through GoCommand, and checks that it resets the
// scheduling class through chrt where chrt is installed.
func TestGoCommand(t *testing.T) {
	cmd := GoCommand(context.Background(), "env", "GOVERSION")
	if _, err := exec.LookPath("chrt"); err == nil {
		if base := filepath.Base(cmd.Args[0]); base != "chrt" || !slices.Equal(cmd.Args[1:4], []string{"--other", "0", "go"}) {
			t.Fatalf("args %q, want chrt --other 0 go ...", cmd.Args)
		}
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%q: %v", cmd.Args, err)
	}
	if !strings.HasPrefix(string(out), "go1.") {
		t.Fatalf("go env GOVERSION printed %q", out)
	}
}
