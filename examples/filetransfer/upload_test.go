package filetransfer_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/seed857a6cbd/pocket/examples/filetransfer"
)

func TestUpload(t *testing.T) {
	content := randomBytes(1<<20+777, 4)
	src := filepath.Join(t.TempDir(), "src.bin")
	writeFile(t, src, content)
	empty := filepath.Join(t.TempDir(), "empty")
	writeFile(t, empty, nil)
	other := randomBytes(1<<20, 5)

	tests := []struct {
		name    string
		src     string
		want    []byte
		part    []byte // on the server before the upload
		final   []byte // complete file on the server before the upload
		resumed int64
		sent    int64
	}{
		{name: "fresh", src: src, want: content, sent: int64(len(content))},
		{name: "resume", src: src, want: content, part: content[:1<<20+3], resumed: 1<<20 + 3, sent: int64(len(content)) - (1<<20 + 3)},
		{name: "already complete", src: src, want: content, final: content, resumed: int64(len(content))},
		{name: "replaces older file", src: src, want: content, final: other, sent: int64(len(content))},
		{name: "part of other bytes", src: src, want: content, part: other[:1<<20], resumed: 1 << 20, sent: 2*int64(len(content)) - 1<<20}, // sent twice: the commit fails, the upload starts over
		{name: "part longer than file", src: src, want: content, part: append(append([]byte{}, content...), 9), sent: int64(len(content))},
		{name: "empty file", src: empty, want: []byte{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			_, c := uploadServer(t, root)
			if tc.part != nil {
				writeFile(t, filepath.Join(root, "up"+filetransfer.PartSuffix), tc.part)
			}
			if tc.final != nil {
				writeFile(t, filepath.Join(root, "up"), tc.final)
			}
			res, err := filetransfer.Upload(testContext(t), c, tc.src, "up", &filetransfer.Options{ChunkSize: 256 << 10, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(root, "up"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("stored %d bytes differ from the %d sent", len(got), len(tc.want))
			}
			if _, err := os.Stat(filepath.Join(root, "up"+filetransfer.PartSuffix)); !os.IsNotExist(err) {
				t.Fatalf(".part left behind: %v", err)
			}
			if res.Resumed != tc.resumed || res.Sent != tc.sent || res.SHA256 != sum(tc.want) {
				t.Fatalf("result %+v, want resumed %d, sent %d", res, tc.resumed, tc.sent)
			}
		})
	}
}

func TestUploadRetries(t *testing.T) {
	content := randomBytes(1<<20, 6)
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, src, content)
	for _, before := range []bool{true, false} {
		root := t.TempDir()
		_, c := uploadServer(t, root)
		// every 3rd call fails; with before=false the write was stored and
		// its answer lost, so the retry meets ErrOffset and resyncs.
		fc := &flaky{Caller: c, every: 3, before: before}
		if _, err := filetransfer.Upload(testContext(t), fc, src, "f", &filetransfer.Options{ChunkSize: 128 << 10, Logger: quiet}); err != nil {
			t.Fatalf("before=%v: %v", before, err)
		}
		if got, _ := os.ReadFile(filepath.Join(root, "f")); !bytes.Equal(got, content) {
			t.Fatalf("before=%v: content differs", before)
		}
	}
}

func TestUploadServerDirect(t *testing.T) {
	root := t.TempDir()
	us, err := filetransfer.NewUploadServer(root)
	if err != nil {
		t.Fatal(err)
	}
	defer us.Close()
	data := []byte("hello, world")

	steps := []struct {
		name string
		do   func() (*filetransfer.UploadStatResponse, error)
		err  error
		have int64
	}{
		{"stat of nothing", func() (*filetransfer.UploadStatResponse, error) { return us.Stat("f") }, nil, 0},
		{"write not at 0", func() (*filetransfer.UploadStatResponse, error) { return us.Write("f", 5, data) }, filetransfer.ErrOffset, 0},
		{"write at 0", func() (*filetransfer.UploadStatResponse, error) { return us.Write("f", 0, data[:5]) }, nil, 5},
		{"write behind", func() (*filetransfer.UploadStatResponse, error) { return us.Write("f", 3, data[3:]) }, filetransfer.ErrOffset, 0},
		{"write ahead", func() (*filetransfer.UploadStatResponse, error) { return us.Write("f", 6, data[6:]) }, filetransfer.ErrOffset, 0},
		{"write rest", func() (*filetransfer.UploadStatResponse, error) { return us.Write("f", 5, data[5:]) }, nil, 12},
		{"stat", func() (*filetransfer.UploadStatResponse, error) { return us.Stat("f") }, nil, 12},
		{"commit wrong size", func() (*filetransfer.UploadStatResponse, error) { return us.Commit("f", 11, sum(data)) }, filetransfer.ErrSize, 0},
		{"commit bad sum", func() (*filetransfer.UploadStatResponse, error) { return us.Commit("f", 12, "xyz") }, filetransfer.ErrBadArgument, 0},
		{"commit", func() (*filetransfer.UploadStatResponse, error) { return us.Commit("f", 12, sum(data)) }, nil, 0},
		{"commit again", func() (*filetransfer.UploadStatResponse, error) { return us.Commit("f", 12, sum(data)) }, nil, 0},
		{"write restart", func() (*filetransfer.UploadStatResponse, error) { return us.Write("f", 0, []byte("HELLO")) }, nil, 5},
		{"commit mismatch", func() (*filetransfer.UploadStatResponse, error) { return us.Commit("f", 5, sum([]byte("hello"))) }, filetransfer.ErrChecksum, 0},
		{"part removed", func() (*filetransfer.UploadStatResponse, error) { return us.Stat("f") }, nil, 0},
		{"commit missing", func() (*filetransfer.UploadStatResponse, error) { return us.Commit("g", 3, sum([]byte("abc"))) }, filetransfer.ErrOffset, 0},
		{"directory name", func() (*filetransfer.UploadStatResponse, error) { return us.Write("d/f", 0, data) }, filetransfer.ErrBadName, 0},
		{"dotdot", func() (*filetransfer.UploadStatResponse, error) { return us.Write("..", 0, data) }, filetransfer.ErrBadName, 0},
		{"part name", func() (*filetransfer.UploadStatResponse, error) { return us.Stat("f.part") }, filetransfer.ErrBadName, 0},
		{"chunk too large", func() (*filetransfer.UploadStatResponse, error) {
			return us.Write("f", 0, make([]byte, filetransfer.MaxChunkSize+1))
		}, filetransfer.ErrBadArgument, 0},
	}
	for _, s := range steps {
		st, err := s.do()
		if !errors.Is(err, s.err) {
			t.Fatalf("%s: got %v, want %v", s.name, err, s.err)
		}
		if err == nil && st.Have != s.have {
			t.Fatalf("%s: have %d, want %d", s.name, st.Have, s.have)
		}
	}
	st, err := us.Stat("f")
	if err != nil || st.Size != 12 || st.SHA256 != sum(data) {
		t.Fatalf("final stat %+v, %v", st, err)
	}
}

func TestUploadSymlinkOut(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(parent, "victim"), filepath.Join(root, "f"+filetransfer.PartSuffix)); err != nil {
		t.Fatal(err)
	}
	us, err := filetransfer.NewUploadServer(root)
	if err != nil {
		t.Fatal(err)
	}
	defer us.Close()
	if _, err := us.Write("f", 0, []byte("x")); !errors.Is(err, filetransfer.ErrBadName) {
		t.Fatalf("write through a symlink out: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(parent, "victim")); !os.IsNotExist(err) {
		t.Fatalf("file created outside the root: %v", err)
	}
}
