package filetransfer

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestCleanName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		flat bool
		want string // "" means rejected with ErrBadName
	}{
		{"plain", "a.txt", false, "a.txt"},
		{"nested", "dir/sub/a.txt", false, filepath.FromSlash("dir/sub/a.txt")},
		{"nested flat", "dir/a.txt", true, ""},
		{"plain flat", "a.txt", true, "a.txt"},
		{"dotfile", ".hidden", true, ".hidden"},
		{"dots in name", "a..b", true, "a..b"},
		{"empty", "", false, ""},
		{"dot", ".", false, ""},
		{"dotdot", "..", false, ""},
		{"escape", "../etc/passwd", false, ""},
		{"inner dotdot", "a/../b", false, ""},
		{"absolute", "/etc/passwd", false, ""},
		{"trailing slash", "dir/", false, ""},
		{"double slash", "a//b", false, ""},
		{"dot element", "a/./b", false, ""},
		{"nul", "a\x00b", false, ""},
		{"part suffix", "a.part", false, ""},
		{"too long", strings.Repeat("a", 1025), false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cleanName(tc.in, tc.flat)
			if tc.want == "" {
				if !errors.Is(err, ErrBadName) {
					t.Fatalf("cleanName(%q) = %q, %v; want ErrBadName", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("cleanName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// FuzzCleanName checks that an accepted name never leaves the root.
func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../x", "/abs", "a/../b", "a\x00", "x.part", "a//b", "./a", "..."} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, name string, flat bool) {
		local, err := cleanName(name, flat)
		if err != nil {
			if !errors.Is(err, ErrBadName) {
				t.Fatalf("cleanName(%q): %v is not ErrBadName", name, err)
			}
			return
		}
		if !filepath.IsLocal(local) || filepath.Clean(local) != local {
			t.Fatalf("cleanName(%q) accepted %q", name, local)
		}
		joined := filepath.Join("/root", local)
		if !strings.HasPrefix(joined, "/root/") {
			t.Fatalf("cleanName(%q) = %q leaves the root: %s", name, local, joined)
		}
		if flat && strings.ContainsRune(local, filepath.Separator) {
			t.Fatalf("cleanName(%q, flat) = %q has a directory", name, local)
		}
	})
}
