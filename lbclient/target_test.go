package lbclient

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Endpoint
		wantErr string // substring of the error; "" means success
	}{
		{name: "single default weight", in: "10.0.0.1:7000", want: []Endpoint{{"10.0.0.1:7000", 1}}},
		{name: "weights", in: "10.0.0.1:7000#2,10.0.0.2:7000#1", want: []Endpoint{{"10.0.0.1:7000", 2}, {"10.0.0.2:7000", 1}}},
		{name: "lb scheme", in: "lb:///10.0.0.1:7000#2,10.0.0.2:7000", want: []Endpoint{{"10.0.0.1:7000", 2}, {"10.0.0.2:7000", 1}}},
		{name: "spaces", in: " a.example:80#100 , b.example:81 ", want: []Endpoint{{"a.example:80", 100}, {"b.example:81", 1}}},
		{name: "ipv6", in: "[::1]:9000#3", want: []Endpoint{{"[::1]:9000", 3}}},
		{name: "empty", in: "", wantErr: "empty target"},
		{name: "blank", in: "  ", wantErr: "empty target"},
		{name: "empty entry", in: "a:1,,b:2", wantErr: `entry 2 "": empty entry`},
		{name: "trailing comma", in: "a:1,", wantErr: "entry 2"},
		{name: "no port", in: "a:1,hostonly", wantErr: `entry 2 "hostonly": address "hostonly" is not host:port`},
		{name: "weight zero", in: "a:1#0", wantErr: `weight "0" is not an integer 1-100`},
		{name: "weight too big", in: "a:1#101", wantErr: `weight "101"`},
		{name: "weight negative", in: "a:1#-1", wantErr: `weight "-1"`},
		{name: "weight not number", in: "a:1#x", wantErr: `weight "x"`},
		{name: "weight empty", in: "a:1#", wantErr: `weight ""`},
		{name: "two hashes", in: "a:1#2#3", wantErr: `weight "2#3"`},
		{name: "port zero", in: "a:0", wantErr: `port "0"`},
		{name: "port too big", in: "a:65536", wantErr: `port "65536"`},
		{name: "port name", in: "a:http", wantErr: `port "http"`},
		{name: "port leading zero", in: "a:080", wantErr: `port "080"`},
		{name: "empty host is localhost", in: ":80", want: []Endpoint{{"localhost:80", 1}}},
		{name: "deployed list: repeats add weights", in: ":9090#1,:9090#1,:9090#1", want: []Endpoint{{"localhost:9090", 3}}},
		{name: "repeats mixed", in: "a:1#2, b:2, a:1, localhost:3, :3#4", want: []Endpoint{{"a:1", 3}, {"b:2", 1}, {"localhost:3", 5}}},
		{name: "repeats over max weight", in: "a:1#60,a:1#41", wantErr: `entry 2 "a:1#41": repeats of a:1 add up to weight 101, over 100`},
		{name: "empty host no port", in: ":", wantErr: `port ""`},
		{name: "empty host bad port", in: ":x#1", wantErr: `port "x"`},
		{name: "bare hash", in: "#1", wantErr: "not host:port"},
		{name: "space in host", in: "a b:80", wantErr: `host "a b"`},
		{name: "too long", in: strings.Repeat("a", maxTargetLen+1), wantErr: "limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTarget(tc.in)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseTarget(%q) = %v, want error containing %q", tc.in, got, tc.wantErr)
				}
				if !errors.Is(err, ErrBadTarget) || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "lbclient: ") {
					t.Fatalf("ParseTarget(%q) error %q, want ErrBadTarget containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTarget(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseTarget(%q) = %v, want %v", tc.in, got, tc.want)
			}
			again, err := ParseTarget(FormatTarget(got))
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("round trip of %q: %v, %v", FormatTarget(got), again, err)
			}
		})
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"10.0.0.1:7000#2,10.0.0.2:7000#1", "a:1", "[::1]:80#100", "lb:///x:1", "a:1#0", ",", "a:1,a:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		eps, err := ParseTarget(s)
		if err != nil {
			if !errors.Is(err, ErrBadTarget) || !strings.HasPrefix(err.Error(), "lbclient: ") {
				t.Fatalf("error %q does not wrap ErrBadTarget", err)
			}
			return
		}
		if len(eps) == 0 {
			t.Fatalf("ParseTarget(%q) returned no endpoints and no error", s)
		}
		for _, e := range eps {
			if e.Weight < MinWeight || e.Weight > MaxWeight {
				t.Fatalf("ParseTarget(%q): weight %d out of range", s, e.Weight)
			}
		}
		if err := validateEndpoints(eps); err != nil {
			t.Fatalf("ParseTarget(%q) result fails validation: %v", s, err)
		}
		again, err := ParseTarget(FormatTarget(eps))
		if err != nil || !reflect.DeepEqual(again, eps) {
			t.Fatalf("round trip of %q: %v, %v", FormatTarget(eps), again, err)
		}
	})
}
