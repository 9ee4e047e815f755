package cliflags

import "testing"

func TestParseSize(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int64
		ok   bool
	}{
		{"plain", "1048576", 1 << 20, true},
		{"zero", "0", 0, true},
		{"KiB", "512KiB", 512 << 10, true},
		{"k", "512k", 512 << 10, true},
		{"MiB", "4MiB", 4 << 20, true},
		{"M", "4M", 4 << 20, true},
		{"GiB", "1GiB", 1 << 30, true},
		{"bytes", "100B", 100, true},
		{"spaces", " 2 MiB ", 2 << 20, true},
		{"negative", "-1", 0, false},
		{"empty", "", 0, false},
		{"suffix only", "MiB", 0, false},
		{"fraction", "1.5MiB", 0, false},
		{"overflow", "9999999999999GiB", 0, false},
		{"unknown unit", "3TB", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSize(tc.in)
			if tc.ok != (err == nil) || got != tc.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

// FuzzParseSize checks that ParseSize never panics nor returns a negative.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1", "4MiB", "512k", "-3", "9223372036854775807", "1GiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, n)
		}
	})
}
