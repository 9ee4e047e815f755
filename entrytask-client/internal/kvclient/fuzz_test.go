package kvclient_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
)

// FuzzParseEndpoints: any input yields either endpoints with a host:port address and a
// weight in range, or an error wrapping ErrBadEndpoint; never a panic.
func FuzzParseEndpoints(f *testing.F) {
	for _, s := range []string{"127.0.0.1:7000", "127.0.0.1:7000#3,127.0.0.1:7001", "[::1]:1#100", "a:1,,b:2", "#", ":", "x:99999", ":9090#1,:9090#1,:9090#1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		eps, err := kvclient.ParseEndpoints(s)
		if err != nil {
			if !errors.Is(err, kvclient.ErrBadEndpoint) || !strings.HasPrefix(err.Error(), "kvclient: ") {
				t.Fatalf("error %v does not wrap ErrBadEndpoint", err)
			}
			return
		}
		if len(eps) == 0 || len(eps) > strings.Count(s, ",")+1 { // repeats merge
			t.Fatalf("%q gave %d endpoints", s, len(eps))
		}
		for _, ep := range eps {
			if ep.Weight < 1 || ep.Weight > kvclient.MaxWeight || ep.Addr == "" || strings.Contains(ep.Addr, ",") {
				t.Fatalf("%q gave bad endpoint %+v", s, ep)
			}
		}
	})
}
