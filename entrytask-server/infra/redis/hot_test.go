package redis

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"
)

// TestHotRouting: the first autoPipelineAbove hot commands in flight go to the plain
// client, the ones beyond to the autopipeliner, and once enough have completed the next
// goes to the plain client again. No command
// is sent, so no server is needed.
func TestHotRouting(t *testing.T) {
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	s, err := newStore(rdb, "", true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var releases []func()
	for i := range autoPipelineAbove {
		c, release := s.hot()
		if c != goredis.StringCmdable(s.rdb) {
			t.Fatalf("command %d in flight went to %T, want the plain client", i+1, c)
		}
		releases = append(releases, release)
	}
	var apReleases []func()
	for i := range 3 {
		c, release := s.hot()
		if c != goredis.StringCmdable(s.ap) {
			t.Fatalf("command %d in flight went to %T, want the autopipeliner", autoPipelineAbove+i+1, c)
		}
		apReleases = append(apReleases, release)
	}
	for _, r := range apReleases {
		r()
	}
	releases[0]()
	if c, release := s.hot(); c != goredis.StringCmdable(s.rdb) {
		t.Fatalf("after one command completed the next went to %T, want the plain client", c)
	} else {
		release()
	}
	for _, r := range releases[1:] {
		r()
	}
	if n := s.busy.Load(); n != 0 {
		t.Fatalf("%d commands still counted after all completed", n)
	}

	off, err := newStore(goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"}), "", false)
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	for range autoPipelineAbove + 2 {
		if c, _ := off.hot(); c != goredis.StringCmdable(off.rdb) {
			t.Fatalf("with autopipelining off a command went to %T", c)
		}
	}
}
