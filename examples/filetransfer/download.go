package filetransfer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
)

// Download fetches the file name from a FileServer reachable through c into
// dest. It writes dest+PartSuffix and, when that file exists (an earlier
// run was interrupted), continues from its size. At the end it fsyncs the
// partial file, checks its SHA-256 against the server's and renames it to
// dest; on a mismatch the partial file is removed and the error wraps
// ErrChecksum (run again to start over). ctx bounds the whole transfer.
func Download(ctx context.Context, c Caller, name, dest string, opts *Options) (*Result, error) {
	t := newTransfer(c, opts)
	q := url.Values{"name": {name}}
	resp, err := t.call(ctx, PathStat+"?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("filetransfer: stat %q: %w", name, err)
	}
	var st StatResponse
	if err := json.Unmarshal(resp, &st); err != nil || st.Size < 0 || len(st.SHA256) != 64 {
		return nil, fmt.Errorf("filetransfer: stat %q: bad answer %.100q", name, resp)
	}

	part := dest + PartSuffix
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("filetransfer: %w", err)
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("filetransfer: %w", err)
	}
	off := fi.Size()
	if off > st.Size { // left by another version of the file
		if err := f.Truncate(0); err != nil {
			return nil, fmt.Errorf("filetransfer: %w", err)
		}
		off = 0
	}
	res := &Result{Size: st.Size, SHA256: st.SHA256, Resumed: off}
	t.progress(off, st.Size)

	for off < st.Size {
		n := int(min(int64(t.opts.ChunkSize), st.Size-off))
		if err := t.wait(ctx, n); err != nil {
			return res, err
		}
		q := url.Values{"name": {name}, "offset": {strconv.FormatInt(off, 10)}, "length": {strconv.Itoa(n)}}
		data, err := t.call(ctx, PathRead+"?"+q.Encode(), nil)
		if err != nil {
			return res, fmt.Errorf("filetransfer: read %q at %d: %w", name, off, err)
		}
		if len(data) == 0 || len(data) > n {
			return res, fmt.Errorf("filetransfer: read %q at %d: %d bytes for %d asked", name, off, len(data), n)
		}
		if _, err := f.WriteAt(data, off); err != nil {
			return res, fmt.Errorf("filetransfer: %w", err)
		}
		off += int64(len(data))
		res.Sent += int64(len(data))
		t.progress(off, st.Size)
	}

	if err := f.Sync(); err != nil {
		return res, fmt.Errorf("filetransfer: fsync %s: %w", part, err)
	}
	sum, err := hashFile(f)
	if err != nil {
		return res, fmt.Errorf("filetransfer: hash %s: %w", part, err)
	}
	f.Close()
	f = nil
	if sum != st.SHA256 {
		if err := os.Remove(part); err != nil {
			return res, fmt.Errorf("filetransfer: remove %s after sha256 mismatch: %w", part, err)
		}
		return res, fmt.Errorf("%w: %s has %s, server said %s; partial file removed", ErrChecksum, part, sum, st.SHA256)
	}
	if err := os.Rename(part, dest); err != nil {
		return res, fmt.Errorf("filetransfer: %w", err)
	}
	if err := syncPath(filepath.Dir(dest)); err != nil {
		return res, err
	}
	return res, nil
}

// syncPath fsyncs the directory dir.
func syncPath(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("filetransfer: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("filetransfer: fsync %s: %w", dir, err)
	}
	return nil
}
