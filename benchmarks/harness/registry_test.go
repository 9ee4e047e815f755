package harness

import (
	"strings"
	"testing"
)

type named string

func (n named) Name() string { return string(n) }

func TestRegistry(t *testing.T) {
	r := NewRegistry[named]("rpc", "framework")
	r.Register("b")
	r.Register("a")
	if got := strings.Join(r.Names(), ","); got != "a,b" {
		t.Fatalf("Names = %q, want a,b", got)
	}
	if v, err := r.Lookup("a"); err != nil || v != "a" {
		t.Fatalf("Lookup(a) = %q, %v", v, err)
	}
	_, err := r.Lookup("c")
	if err == nil || err.Error() != `rpc: unknown framework "c" (have [a b])` {
		t.Fatalf("Lookup(c) error = %v", err)
	}
	defer func() {
		if p := recover(); p == nil || !strings.Contains(p.(string), "Register called twice for a") {
			t.Fatalf("duplicate Register: panic %v", p)
		}
	}()
	r.Register("a")
}
