package redis

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"
)

// TestHotRouting: the first autoPipelineAbove hot commands in flight go to the plain
// client, the ones beyond to the autopipeliner, and once enough have completed the next
// goes to the plain client again. No command is sent, so no server is needed.
func TestHotRouting(t *testing.T) {
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	s, err := newStore(rdb, "", true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	done := func(n int) { s.busy.Add(-int32(n)) } // n commands completed
	for i := range autoPipelineAbove {
		if c := s.hot(); c != goredis.StringCmdable(s.rdb) {
			t.Fatalf("command %d in flight went to %T, want the plain client", i+1, c)
		}
	}
	for i := range 3 {
		if c := s.hot(); c != goredis.StringCmdable(s.ap) {
			t.Fatalf("command %d in flight went to %T, want the autopipeliner", autoPipelineAbove+i+1, c)
		}
	}
	done(3 + 1) // the autopipelined ones and one plain one
	if c := s.hot(); c != goredis.StringCmdable(s.rdb) {
		t.Fatalf("after one command completed the next went to %T, want the plain client", c)
	}
	done(autoPipelineAbove)
	if n := s.busy.Load(); n != 0 {
		t.Fatalf("%d commands still counted after all completed", n)
	}

	off, err := newStore(goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"}), "", false)
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	for range autoPipelineAbove + 2 {
		if c := off.hot(); c != goredis.StringCmdable(off.rdb) {
			t.Fatalf("with autopipelining off a command went to %T", c)
		}
	}
}
