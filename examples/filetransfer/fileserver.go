package filetransfer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"

	"github.com/seed857a6cbd/pocket/iip"
)

// FileServer serves the regular files under one directory for download.
// Names are relative, "/"-separated paths; nothing outside the directory
// can be reached, neither by ".." nor by a symbolic link (os.Root). Create
// it with NewFileServer, attach it with Register, and Close it after the
// IIP server has stopped.
type FileServer struct {
	root   *os.Root
	hashes hashCache
}

// NewFileServer opens dir as the root of the served files.
func NewFileServer(dir string) (*FileServer, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("filetransfer: open root: %w", err)
	}
	return &FileServer{root: root}, nil
}

// Register adds the PathStat and PathRead handlers to srv.
func (s *FileServer) Register(srv *iip.Server) {
	srv.HandleFunc(PathStat, s.serveStat)
	srv.HandleFunc(PathRead, s.serveRead)
}

// Close closes the root directory; requests after Close fail.
func (s *FileServer) Close() error { return s.root.Close() }

// Stat returns the size and SHA-256 of the file name (the PathStat answer).
func (s *FileServer) Stat(name string) (*StatResponse, error) {
	f, fi, err := s.open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sum, err := s.hashes.sum(name, f, fi)
	if err != nil {
		return nil, fmt.Errorf("filetransfer: hash %q: %w", name, err)
	}
	return &StatResponse{Name: name, Size: fi.Size(), SHA256: sum}, nil
}

// ReadChunk returns up to length bytes of the file name from offset (the
// PathRead answer). length must be 1..MaxChunkSize and offset inside the
// file.
func (s *FileServer) ReadChunk(name string, offset int64, length int) ([]byte, error) {
	if length < 1 || length > MaxChunkSize {
		return nil, fmt.Errorf("%w: length %d not in 1..%d", ErrBadArgument, length, MaxChunkSize)
	}
	f, fi, err := s.open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if offset < 0 || offset >= fi.Size() {
		return nil, fmt.Errorf("%w: offset %d outside file of %d bytes", ErrBadArgument, offset, fi.Size())
	}
	if rest := fi.Size() - offset; int64(length) > rest {
		length = int(rest)
	}
	buf := make([]byte, length)
	n, err := f.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("filetransfer: read %q: %w", name, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: nothing to read at offset %d of %q", ErrBadArgument, offset, name)
	}
	return buf[:n], nil
}

func (s *FileServer) open(name string) (*os.File, os.FileInfo, error) {
	local, err := cleanName(name, false)
	if err != nil {
		return nil, nil, err
	}
	f, err := s.root.Open(local)
	if err != nil {
		return nil, nil, openError(name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("filetransfer: stat %q: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %q is %v", ErrNotRegular, name, fi.Mode().Type())
	}
	return f, fi, nil
}

// openError turns an os.Root error into one of our sentinels, without the
// server's directory in the message.
func openError(name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Err.Error() == "path escapes from parent" {
		return fmt.Errorf("%w: %q leads outside the root", ErrBadName, name)
	}
	return fmt.Errorf("filetransfer: open %q: %w", name, err)
}

func (s *FileServer) serveStat(_ context.Context, req *iip.Request) ([]byte, error) {
	st, err := s.Stat(req.Query.Get("name"))
	if err != nil {
		return nil, err
	}
	return json.Marshal(st)
}

func (s *FileServer) serveRead(_ context.Context, req *iip.Request) ([]byte, error) {
	offset, err := queryInt(req, "offset")
	if err != nil {
		return nil, err
	}
	length, err := queryInt(req, "length")
	if err != nil {
		return nil, err
	}
	if length > MaxChunkSize {
		return nil, fmt.Errorf("%w: length %d exceeds %d", ErrBadArgument, length, MaxChunkSize)
	}
	return s.ReadChunk(req.Query.Get("name"), offset, int(length))
}

// queryInt parses the non-negative integer argument key of req.
func queryInt(req *iip.Request, key string) (int64, error) {
	v := req.Query.Get(key)
	if v == "" {
		return 0, fmt.Errorf("%w: missing %s", ErrBadArgument, key)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: %s=%q is not a non-negative integer", ErrBadArgument, key, v)
	}
	return n, nil
}
