package filetransfer_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/seed857a6cbd/pocket/examples/filetransfer"
)

// FuzzServers feeds arbitrary names, offsets and data to both servers'
// operations (what a peer controls) and checks that nothing panics and
// that nothing is created outside the root.
func FuzzServers(f *testing.F) {
	f.Add("f", int64(0), []byte("data"), int64(4))
	f.Add("../escape", int64(0), []byte("x"), int64(1))
	f.Add("sub/f", int64(3), []byte{}, int64(0))
	f.Add("/abs", int64(-1), []byte("x"), int64(-5))
	f.Add("f.part", int64(1<<40), []byte("yy"), int64(2))
	f.Fuzz(func(t *testing.T, name string, offset int64, data []byte, size int64) {
		parent := t.TempDir()
		root := filepath.Join(parent, "root")
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "f"), []byte("0123456789"), 0o644); err != nil {
			t.Fatal(err)
		}
		fs, err := filetransfer.NewFileServer(root)
		if err != nil {
			t.Fatal(err)
		}
		defer fs.Close()
		us, err := filetransfer.NewUploadServer(root)
		if err != nil {
			t.Fatal(err)
		}
		defer us.Close()

		_, _ = fs.Stat(name)
		_, _ = fs.ReadChunk(name, offset, len(data)+1)
		_, _ = us.Stat(name)
		if offset < 1<<20 { // a huge offset would make a sparse file, harmless but slow
			_, _ = us.Write(name, offset, data)
		}
		_, _ = us.Commit(name, size, sum(data))

		entries, err := os.ReadDir(parent)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name() != "root" {
			t.Fatalf("something was created next to the root: %v", entries)
		}
	})
}
