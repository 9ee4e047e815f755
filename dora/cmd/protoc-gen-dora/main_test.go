package main

import "testing"

func TestHeaderVersion(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"release", "v0.2.0", "v0.2.0"},
		{"prerelease", "v0.3.0-rc.1", "v0.3.0-rc.1"},
		{"checkout", "(devel)", "(devel)"},
		{"empty", "", "(devel)"},
		{"pseudo", "v0.0.0-20261204214500-0123456789ab", "(devel)"},
		{"pseudo after a tag", "v0.2.1-0.20261204214500-0123456789ab", "(devel)"},
		{"dirty", "v0.2.1-0.20261204214500-0123456789ab+dirty", "(devel)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := headerVersion(tc.in); got != tc.want {
				t.Fatalf("headerVersion(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
