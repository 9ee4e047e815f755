package metadata

import (
	"context"
	"testing"
)

func TestPairsAndGet(t *testing.T) {
	md := Pairs("UserName", "ann", "token", "t1", "token", "t2")
	tests := []struct {
		key, want string
	}{
		{"username", "ann"},
		{"USERNAME", "ann"},
		{"token", "t1"},
		{"missing", ""},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := md.Get(tt.key); got != tt.want {
				t.Fatalf("Get(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
	if md.Len() != 2 {
		t.Fatalf("Len = %d", md.Len())
	}
	var empty MD
	if empty.Get("x") != "" || empty.Copy() != nil {
		t.Fatal("nil MD not empty")
	}
}

func TestPairsOddPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	odd := []string{"a", "b", "c"}
	Pairs(odd[:len(odd)-2]...)
}

func TestOutgoing(t *testing.T) {
	ctx := context.Background()
	if _, ok := FromOutgoingContext(ctx); ok {
		t.Fatal("metadata on a bare context")
	}
	ctx = NewOutgoingContext(ctx, Pairs("a", "1"))
	ctx2 := AppendToOutgoingContext(ctx, "b", "2", "a", "3")
	md, _ := FromOutgoingContext(ctx2)
	if md.Get("a") != "3" || md.Get("b") != "2" {
		t.Fatalf("appended md = %v", md)
	}
	orig, _ := FromOutgoingContext(ctx)
	if orig.Get("a") != "1" || orig.Len() != 1 {
		t.Fatalf("parent md changed: %v", orig)
	}
}

func TestIncoming(t *testing.T) {
	ctx := NewIncomingContext(context.Background(), Pairs("token", "t"))
	md, ok := FromIncomingContext(ctx)
	if !ok || md.Get("token") != "t" || ValueFromIncomingContext(ctx, "token") != "t" {
		t.Fatalf("incoming = %v %v", md, ok)
	}
}

func TestReserved(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"dora-status", true},
		{"Dora-Timeout", true},
		{"dora", false},
		{"token", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := IsReserved(tt.key); got != tt.want {
				t.Fatalf("IsReserved(%q) = %v", tt.key, got)
			}
		})
	}
}

func TestJoinCopy(t *testing.T) {
	a := Pairs("x", "1")
	c := a.Copy()
	c.Set("Y", "2")
	if a.Len() != 1 || c.Get("y") != "2" {
		t.Fatal("Copy shares storage")
	}
	j := Join(a, c, Pairs("x", "9"))
	if j.Get("x") != "9" || j.Len() != 2 {
		t.Fatalf("Join = %v", j)
	}
	j.Delete("X")
	if _, ok := j.Lookup("x"); ok {
		t.Fatal("Delete failed")
	}
}

func TestMultiValue(t *testing.T) {
	md := Pairs("Tag", "a", "tag", "b")
	md.Append("TAG", "c")
	if got := md.Values("tag"); len(got) != 3 || got[0] != "a" || got[2] != "c" || md.Get("tag") != "a" {
		t.Fatalf("Values = %q", got)
	}
	c := md.Copy()
	c.Append("tag", "d")
	c["tag"][0] = "z"
	if md.Get("tag") != "a" || len(md.Values("tag")) != 3 {
		t.Fatal("Copy shares value slices")
	}
	md.Set("tag", "x")
	if got := md.Values("tag"); len(got) != 1 || got[0] != "x" {
		t.Fatalf("Set = %q", got)
	}
	md.Set("tag")
	if _, ok := md.Lookup("tag"); ok {
		t.Fatal("Set with no values kept the key")
	}
	j := Join(Pairs("k", "1", "k", "2"), Pairs("k", "3"))
	if got := j.Values("k"); len(got) != 1 || got[0] != "3" {
		t.Fatalf("Join = %q, want the last MD's values", got)
	}
	for _, tc := range []struct {
		key  string
		want bool
	}{{"sig-bin", true}, {"SIG-BIN", true}, {"bin", false}, {"-bin", true}, {"binary", false}} {
		if IsBinary(tc.key) != tc.want {
			t.Errorf("IsBinary(%q) = %v", tc.key, !tc.want)
		}
	}
}
