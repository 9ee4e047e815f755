package lbclient

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// maxTargetFile bounds the size of a file read by the File resolver.
const maxTargetFile = maxTargetLen

// File resolves endpoints from a file re-read every interval. The file holds
// target syntax: entries separated by commas or newlines; blank lines and lines
// starting with "//" or ";" are ignored.
type File struct {
	path     string
	interval time.Duration
}

// NewFile returns a resolver reading path every interval (<= 0: DefaultFilePoll).
// Used by New for "file:///abs/path" and "file://rel/path" targets.
func NewFile(path string, interval time.Duration) (*File, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: empty file path", ErrBadTarget)
	}
	return &File{path: path, interval: orInterval(interval, DefaultFilePoll)}, nil
}

// Resolve reads and parses the file once. Read errors wrap ErrResolve; parse
// errors wrap ErrBadTarget and name the file and the entry.
func (f *File) Resolve(context.Context) ([]Endpoint, error) {
	data, err := f.read()
	if err != nil {
		return nil, err
	}
	return f.parse(data)
}

func (f *File) read() ([]byte, error) {
	fh, err := os.Open(f.path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrResolve, err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxTargetFile+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrResolve, err)
	}
	if len(data) > maxTargetFile {
		return nil, fmt.Errorf("%w: file %s exceeds %d bytes", ErrResolve, f.path, maxTargetFile)
	}
	return data, nil
}

func (f *File) parse(data []byte) ([]Endpoint, error) {
	var entries []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "//") || strings.HasPrefix(line, ";") {
			continue
		}
		entries = append(entries, strings.TrimSuffix(line, ","))
	}
	eps, err := ParseTarget(strings.Join(entries, ","))
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", f.path, err)
	}
	return eps, nil
}

// Watch reads the file at once and again every interval, reporting its
// endpoints whenever the content changed (and errors while it is unreadable or
// malformed, once per distinct content or error).
func (f *File) Watch(ctx context.Context, update func([]Endpoint), onErr func(error)) error {
	t := time.NewTicker(f.interval)
	defer t.Stop()
	var last []byte
	var lastErr string
	first := true
	for {
		data, err := f.read()
		switch {
		case err != nil:
			if err.Error() != lastErr {
				onErr(err)
				lastErr = err.Error()
			}
			last = nil
			first = true
		case first || !bytes.Equal(data, last):
			first, last, lastErr = false, data, ""
			if eps, err := f.parse(data); err != nil {
				onErr(err)
			} else {
				update(eps)
			}
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
