package filetransfer_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/seed857a6cbd/pocket/examples/filetransfer"
)

// benchSize is the file moved per iteration: 8 MiB.
const benchSize = 8 << 20

func BenchmarkDownload(b *testing.B) {
	root := b.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), randomBytes(benchSize, 7), 0o644); err != nil {
		b.Fatal(err)
	}
	c := fileServer(b, root)
	dest := filepath.Join(b.TempDir(), "f")
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		os.Remove(dest)
		if _, err := filetransfer.Download(b.Context(), c, "f", dest, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpload(b *testing.B) {
	src := filepath.Join(b.TempDir(), "f")
	if err := os.WriteFile(src, randomBytes(benchSize, 8), 0o644); err != nil {
		b.Fatal(err)
	}
	root := b.TempDir()
	_, c := uploadServer(b, root)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		os.Remove(filepath.Join(root, "f")) // else the second upload sends nothing
		if _, err := filetransfer.Upload(b.Context(), c, src, "f", nil); err != nil {
			b.Fatal(err)
		}
	}
}
