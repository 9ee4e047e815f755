package filetransfer

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/seed857a6cbd/pocket/iip"
)

// UploadServer stores uploaded files in one directory. Names are plain file
// names (no directories: Go 1.24's os.Root cannot rename, and a flat
// directory lets a plain rename stay inside it). An upload is written to
// NAME.part, only ever at the offset equal to its current size, so the
// server knows after any restart how much it has; the commit verifies size
// and SHA-256, fsyncs the file, renames it to NAME and fsyncs the directory.
// Create it with NewUploadServer, attach it with Register, and Close it after
// the IIP server has stopped.
type UploadServer struct {
	dir    string
	root   *os.Root
	hashes hashCache

	mu    sync.Mutex
	locks map[string]*nameLock
}

type nameLock struct {
	mu   sync.Mutex
	refs int
}

// NewUploadServer opens dir (which must exist) as the upload directory.
func NewUploadServer(dir string) (*UploadServer, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("filetransfer: open root: %w", err)
	}
	return &UploadServer{dir: dir, root: root, locks: make(map[string]*nameLock)}, nil
}

// Register adds the PathUploadStat, PathUploadWrite and PathUploadCommit
// handlers to srv.
func (s *UploadServer) Register(srv *iip.Server) {
	srv.HandleFunc(PathUploadStat, func(_ context.Context, req *iip.Request) ([]byte, error) {
		return marshal(s.Stat(req.Query.Get("name")))
	})
	srv.HandleFunc(PathUploadWrite, func(_ context.Context, req *iip.Request) ([]byte, error) {
		offset, err := queryInt(req, "offset")
		if err != nil {
			return nil, err
		}
		return marshal(s.Write(req.Query.Get("name"), offset, req.Data))
	})
	srv.HandleFunc(PathUploadCommit, func(_ context.Context, req *iip.Request) ([]byte, error) {
		size, err := queryInt(req, "size")
		if err != nil {
			return nil, err
		}
		return marshal(s.Commit(req.Query.Get("name"), size, req.Query.Get("sha256")))
	})
}

// Close closes the upload directory; requests after Close fail.
func (s *UploadServer) Close() error { return s.root.Close() }

// Stat tells how much of name the server has (the PathUploadStat answer).
func (s *UploadServer) Stat(name string) (*UploadStatResponse, error) {
	local, err := cleanName(name, true)
	if err != nil {
		return nil, err
	}
	unlock := s.lock(local)
	defer unlock()
	return s.stat(name, local)
}

func (s *UploadServer) stat(name, local string) (*UploadStatResponse, error) {
	st := &UploadStatResponse{Name: name, Size: -1}
	fi, err := s.root.Lstat(local + PartSuffix)
	switch {
	case err == nil && fi.Mode().IsRegular():
		st.Have = fi.Size()
	case err == nil:
		return nil, fmt.Errorf("%w: %q is %v", ErrNotRegular, name+PartSuffix, fi.Mode().Type())
	case !errors.Is(err, fs.ErrNotExist):
		return nil, openError(name+PartSuffix, err)
	}
	f, err := s.root.Open(local)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, openError(name, err)
	}
	defer f.Close()
	fi, err = f.Stat()
	if err != nil {
		return nil, fmt.Errorf("filetransfer: stat %q: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %q is %v", ErrNotRegular, name, fi.Mode().Type())
	}
	sum, err := s.hashes.sum(local, f, fi)
	if err != nil {
		return nil, fmt.Errorf("filetransfer: hash %q: %w", name, err)
	}
	st.Size, st.SHA256 = fi.Size(), sum
	return st, nil
}

// Write stores data at offset of name's partial file (the PathUploadWrite
// answer). offset must equal the partial file's size, or be 0 to start the
// upload over; anything else fails with ErrOffset and changes nothing (no NAME.part is
// created for it).
func (s *UploadServer) Write(name string, offset int64, data []byte) (*UploadStatResponse, error) {
	local, err := cleanName(name, true)
	if err != nil {
		return nil, err
	}
	if len(data) > MaxChunkSize {
		return nil, fmt.Errorf("%w: chunk of %d bytes exceeds %d", ErrBadArgument, len(data), MaxChunkSize)
	}
	unlock := s.lock(local)
	defer unlock()
	// The partial file is created only by a write at offset 0: a refused write must leave
	// nothing behind, not even an empty NAME.part.
	f, err := s.root.OpenFile(local+PartSuffix, os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if offset != 0 {
			return nil, fmt.Errorf("%w: write at %d, have 0 bytes of %q", ErrOffset, offset, name)
		}
		f, err = s.root.OpenFile(local+PartSuffix, os.O_WRONLY|os.O_CREATE, 0o644)
	}
	if err != nil {
		return nil, openError(name+PartSuffix, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("filetransfer: stat %q: %w", name+PartSuffix, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %q is %v", ErrNotRegular, name+PartSuffix, fi.Mode().Type())
	}
	have := fi.Size()
	switch {
	case offset == have:
	case offset == 0:
		if err := f.Truncate(0); err != nil {
			return nil, fmt.Errorf("filetransfer: truncate %q: %w", name+PartSuffix, err)
		}
	default:
		return nil, fmt.Errorf("%w: write at %d, have %d bytes of %q", ErrOffset, offset, have, name)
	}
	if _, err := f.WriteAt(data, offset); err != nil {
		return nil, fmt.Errorf("filetransfer: write %q: %w", name+PartSuffix, err)
	}
	return &UploadStatResponse{Name: name, Have: offset + int64(len(data)), Size: -1}, nil
}

// Commit completes the upload of name (the PathUploadCommit answer): the
// partial file must have exactly size bytes whose SHA-256 is sum (hex);
// it is fsynced and renamed to name, replacing any older file, and the
// directory is fsynced. A checksum mismatch removes the partial file and
// fails with ErrChecksum. Committing again an upload already committed
// succeeds without doing anything.
func (s *UploadServer) Commit(name string, size int64, sum string) (*UploadStatResponse, error) {
	local, err := cleanName(name, true)
	if err != nil {
		return nil, err
	}
	if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
		return nil, fmt.Errorf("%w: sha256=%q is not 64 hex digits", ErrBadArgument, sum)
	}
	unlock := s.lock(local)
	defer unlock()
	f, err := s.root.OpenFile(local+PartSuffix, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		st, serr := s.stat(name, local)
		if serr != nil {
			return nil, serr
		}
		if st.Size == size && st.SHA256 == sum {
			return st, nil // committed before; the answer was lost
		}
		if size != 0 {
			return nil, fmt.Errorf("%w: commit of %d bytes, have 0 bytes of %q", ErrOffset, size, name)
		}
		f, err = s.root.OpenFile(local+PartSuffix, os.O_RDWR|os.O_CREATE, 0o644) // an empty file
	}
	if err != nil {
		return nil, openError(name+PartSuffix, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("filetransfer: stat %q: %w", name+PartSuffix, err)
	}
	if fi.Size() != size {
		return nil, fmt.Errorf("%w: commit of %d bytes, have %d bytes of %q", ErrSize, size, fi.Size(), name)
	}
	got, err := hashFile(f)
	if err != nil {
		return nil, fmt.Errorf("filetransfer: hash %q: %w", name+PartSuffix, err)
	}
	if got != sum {
		f.Close()
		if err := s.root.Remove(local + PartSuffix); err != nil {
			return nil, fmt.Errorf("filetransfer: remove %q after sha256 mismatch: %w", name+PartSuffix, err)
		}
		return nil, fmt.Errorf("%w: %q has %s, client said %s; partial file removed", ErrChecksum, name, got, sum)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("filetransfer: fsync %q: %w", name+PartSuffix, err)
	}
	// The name is a single element of s.dir (cleanName with flat), so the
	// rename cannot leave the directory; a symbolic link named like the
	// target is replaced, not followed.
	if err := os.Rename(filepath.Join(s.dir, local+PartSuffix), filepath.Join(s.dir, local)); err != nil {
		return nil, fmt.Errorf("filetransfer: rename %q into place: %w", name, err)
	}
	if err := syncDir(s.root); err != nil {
		return nil, err
	}
	return &UploadStatResponse{Name: name, Have: 0, Size: size, SHA256: sum}, nil
}

// lock serialises the operations on one name and returns the unlock.
func (s *UploadServer) lock(local string) func() {
	s.mu.Lock()
	l := s.locks[local]
	if l == nil {
		l = &nameLock{}
		s.locks[local] = l
	}
	l.refs++
	s.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(s.locks, local)
		}
		s.mu.Unlock()
	}
}

// syncDir fsyncs the root directory so that a rename in it is durable.
func syncDir(root *os.Root) error {
	d, err := root.Open(".")
	if err != nil {
		return fmt.Errorf("filetransfer: open directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("filetransfer: fsync directory: %w", err)
	}
	return nil
}

func marshal(v any, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}
