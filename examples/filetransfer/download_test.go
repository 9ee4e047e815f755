package filetransfer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/seed857a6cbd/pocket/examples/filetransfer"
	"github.com/seed857a6cbd/pocket/iip"
)

func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{seed})
	_, _ = r.Read(b)
	return b
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDownload(t *testing.T) {
	root := t.TempDir()
	content := randomBytes(1<<20+12345, 1)
	writeFile(t, filepath.Join(root, "dir", "data.bin"), content)
	writeFile(t, filepath.Join(root, "empty"), nil)
	c := fileServer(t, root)

	tests := []struct {
		name    string
		remote  string
		want    []byte
		part    []byte // left by an earlier run
		resumed int64
	}{
		{name: "fresh", remote: "dir/data.bin", want: content},
		{name: "resume", remote: "dir/data.bin", want: content, part: content[:300<<10+7], resumed: 300<<10 + 7},
		{name: "complete part", remote: "dir/data.bin", want: content, part: content, resumed: int64(len(content))},
		{name: "part longer than file", remote: "dir/data.bin", want: content, part: append(append([]byte{}, content...), 1, 2, 3)},
		{name: "empty file", remote: "empty", want: []byte{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "out")
			if tc.part != nil {
				writeFile(t, dest+filetransfer.PartSuffix, tc.part)
			}
			var calls, last atomic.Int64
			res, err := filetransfer.Download(testContext(t), c, tc.remote, dest, &filetransfer.Options{
				ChunkSize: 256 << 10,
				Progress:  func(done, total int64) { calls.Add(1); last.Store(done) },
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(dest)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("downloaded %d bytes differ from the %d served", len(got), len(tc.want))
			}
			if _, err := os.Stat(dest + filetransfer.PartSuffix); !os.IsNotExist(err) {
				t.Fatalf(".part left behind: %v", err)
			}
			if res.Resumed != tc.resumed || res.Resumed+res.Sent != int64(len(tc.want)) || res.SHA256 != sum(tc.want) {
				t.Fatalf("result %+v, want resumed %d of %d", res, tc.resumed, len(tc.want))
			}
			if calls.Load() == 0 || last.Load() != int64(len(tc.want)) {
				t.Fatalf("progress: %d calls, last %d", calls.Load(), last.Load())
			}
		})
	}
}

func TestDownloadCorruptPart(t *testing.T) {
	root := t.TempDir()
	content := randomBytes(1<<20, 2)
	writeFile(t, filepath.Join(root, "f"), content)
	c := fileServer(t, root)
	dest := filepath.Join(t.TempDir(), "f")
	bad := append([]byte{}, content[:1000]...)
	bad[10] ^= 0xff
	writeFile(t, dest+filetransfer.PartSuffix, bad)

	_, err := filetransfer.Download(testContext(t), c, "f", dest, nil)
	if !errors.Is(err, filetransfer.ErrChecksum) {
		t.Fatalf("got %v, want ErrChecksum", err)
	}
	if _, err := os.Stat(dest + filetransfer.PartSuffix); !os.IsNotExist(err) {
		t.Fatalf("corrupt .part kept: %v", err)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Fatalf("dest created: %v", err)
	}
	// Run again: starts over and succeeds.
	if _, err := filetransfer.Download(testContext(t), c, "f", dest, nil); err != nil {
		t.Fatal(err)
	}
}

func TestDownloadRefused(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	writeFile(t, filepath.Join(parent, "secret"), []byte("secret"))
	writeFile(t, filepath.Join(root, "sub", "inside"), []byte("inside"))
	if err := os.Symlink(filepath.Join(parent, "secret"), filepath.Join(root, "out-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..", "secret"), filepath.Join(root, "rel-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("sub", "inside"), filepath.Join(root, "in-link")); err != nil {
		t.Fatal(err)
	}
	c := fileServer(t, root)

	tests := []struct {
		name   string
		remote string
		want   error
	}{
		{"dotdot", "../secret", filetransfer.ErrBadName},
		{"dotdot inside", "sub/../sub/inside", filetransfer.ErrBadName},
		{"absolute", filepath.Join(parent, "secret"), filetransfer.ErrBadName},
		{"empty", "", filetransfer.ErrBadName},
		{"double slash", "sub//inside", filetransfer.ErrBadName},
		{"part name", "x.part", filetransfer.ErrBadName},
		{"absolute symlink out", "out-link", filetransfer.ErrBadName},
		{"relative symlink out", "rel-link", filetransfer.ErrBadName},
		{"missing", "nope", filetransfer.ErrNotFound},
		{"directory", "sub", filetransfer.ErrNotRegular},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "got")
			_, err := filetransfer.Download(testContext(t), c, tc.remote, dest, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			var ie *iip.Error
			if tc.remote != "" && !errors.As(err, &ie) {
				t.Fatalf("%v does not carry the server's *iip.Error", err)
			}
			if _, err := os.Stat(dest); !os.IsNotExist(err) {
				t.Fatalf("dest created: %v", err)
			}
		})
	}

	t.Run("symlink inside", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "got")
		if _, err := filetransfer.Download(testContext(t), c, "in-link", dest, nil); err != nil {
			t.Fatal(err)
		}
	})
}

// flaky fails some calls as a broken connection would: before sending
// (the request never arrived) or after (the answer was lost).
type flaky struct {
	filetransfer.Caller
	n      atomic.Int64
	every  int64
	before bool
}

func (f *flaky) Do(ctx context.Context, path string, data []byte) ([]byte, error) {
	if f.n.Add(1)%f.every != 0 {
		return f.Caller.Do(ctx, path, data)
	}
	if !f.before {
		if _, err := f.Caller.Do(ctx, path, data); err != nil {
			return nil, err
		}
	}
	return nil, errors.Join(iip.ErrConnLost, errors.New("test: injected failure"))
}

func TestDownloadRetries(t *testing.T) {
	root := t.TempDir()
	content := randomBytes(1<<20, 3)
	writeFile(t, filepath.Join(root, "f"), content)
	c := fileServer(t, root)
	for _, before := range []bool{true, false} {
		dest := filepath.Join(t.TempDir(), "f")
		fc := &flaky{Caller: c, every: 3, before: before}
		if _, err := filetransfer.Download(testContext(t), fc, "f", dest, &filetransfer.Options{ChunkSize: 128 << 10, Logger: quiet}); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(dest); !bytes.Equal(got, content) {
			t.Fatal("content differs")
		}
	}

	t.Run("retries disabled", func(t *testing.T) {
		fc := &flaky{Caller: c, every: 2, before: true}
		_, err := filetransfer.Download(testContext(t), fc, "f", filepath.Join(t.TempDir(), "f"), &filetransfer.Options{RetryTimeout: -1, ChunkSize: 128 << 10})
		if !errors.Is(err, iip.ErrConnLost) {
			t.Fatalf("got %v, want ErrConnLost", err)
		}
	})
	t.Run("context ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := filetransfer.Download(ctx, c, "f", filepath.Join(t.TempDir(), "f"), nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	})
}

func TestReadChunkArguments(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "f"), []byte("0123456789"))
	c := fileServer(t, root)
	tests := []struct {
		name, path string
		want       string
		err        error
	}{
		{"chunk", "/file/read?name=f&offset=2&length=3", "234", nil},
		{"short at end", "/file/read?name=f&offset=8&length=100", "89", nil},
		{"offset at end", "/file/read?name=f&offset=10&length=1", "", filetransfer.ErrBadArgument},
		{"no offset", "/file/read?name=f&length=1", "", filetransfer.ErrBadArgument},
		{"negative offset", "/file/read?name=f&offset=-1&length=1", "", filetransfer.ErrBadArgument},
		{"zero length", "/file/read?name=f&offset=0&length=0", "", filetransfer.ErrBadArgument},
		{"huge length", "/file/read?name=f&offset=0&length=999999999999", "", filetransfer.ErrBadArgument},
		{"no query", "/file/read", "", filetransfer.ErrBadArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Do(testContext(t), tc.path, nil)
			if tc.err != nil {
				var ie *iip.Error
				if !errors.As(err, &ie) || ie.Code != iip.CodeHandler || !bytes.HasPrefix([]byte(ie.Message), []byte(tc.err.Error())) {
					t.Fatalf("got %v, want a handler error starting %q", err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
