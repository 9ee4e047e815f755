package cli

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseSteps: any first argument with a comma is either a list of login/read/write
// steps, one per comma-separated part, or a usage error; never a panic.
func FuzzParseSteps(f *testing.F) {
	for _, s := range []string{"login,read", "login,write,read", "login,,read", "login,", ",", "login,benchmark", "LOGIN,read"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		steps, err := parseSteps(s)
		if err != nil {
			var u usageError
			if !errors.As(err, &u) || steps != nil {
				t.Fatalf("parseSteps(%q) = %v, %v; want a usage error", s, steps, err)
			}
			return
		}
		if strings.Join(steps, ",") != s {
			t.Fatalf("parseSteps(%q) = %v", s, steps)
		}
		for _, st := range steps {
			if st != stepLogin && st != stepRead && st != stepWrite {
				t.Fatalf("parseSteps(%q) accepted step %q", s, st)
			}
		}
	})
}
