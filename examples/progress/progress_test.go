package progress

import (
	"os"
	"path/filepath"
	"testing"
)

func TestNotATerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := New(f, "file")
	if b.bar != nil {
		t.Fatal("a bar on a regular file")
	}
	b.Set(1, 2)
	b.Finish()
	var zero Bar
	zero.Set(5, 10)
	zero.Finish()
	if fi, _ := f.Stat(); fi.Size() != 0 {
		t.Fatalf("wrote %d bytes to a non-terminal", fi.Size())
	}
}
