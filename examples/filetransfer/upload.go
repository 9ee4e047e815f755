package filetransfer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
)

// maxResyncs bounds how often in a row Upload adopts the server's offset
// after ErrOffset without making progress.
const maxResyncs = 3

// Upload sends the local file src to an UploadServer reachable through c,
// to be stored as name (a plain file name). It asks the server how much it
// already has and sends only the rest; when the server already holds a
// complete name with the same SHA-256 nothing is sent. After a transient
// failure it asks again, so a server that was restarted, or that stored a
// write whose answer was lost, is followed. The commit verifies size and
// SHA-256 on the server; should the server's partial file turn out to hold
// other bytes (ErrChecksum), the upload starts over once. ctx bounds the
// whole transfer.
func Upload(ctx context.Context, c Caller, src, name string, opts *Options) (*Result, error) {
	t := newTransfer(c, opts)
	f, err := os.Open(src)
	if err != nil {
		return nil, fmt.Errorf("filetransfer: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("filetransfer: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is %v", ErrNotRegular, src, fi.Mode().Type())
	}
	sum, err := hashFile(f)
	if err != nil {
		return nil, fmt.Errorf("filetransfer: hash %s: %w", src, err)
	}
	res := &Result{Size: fi.Size(), SHA256: sum, Resumed: -1}
	for attempt := 0; ; attempt++ {
		err := t.upload(ctx, f, name, res)
		if err == nil || attempt > 0 || !errors.Is(err, ErrChecksum) {
			res.Resumed = max(res.Resumed, 0)
			return res, err
		}
		t.opts.Logger.Warn("filetransfer: the server's partial file held other bytes; starting over", "name", name)
	}
}

func (t *transfer) upload(ctx context.Context, f *os.File, name string, res *Result) error {
	st, err := t.uploadStat(ctx, name)
	if err != nil {
		return err
	}
	if st.Size == res.Size && st.SHA256 == res.SHA256 {
		if res.Resumed < 0 {
			res.Resumed = res.Size
		}
		t.progress(res.Size, res.Size)
		return nil
	}
	off := st.Have
	if off > res.Size {
		off = 0 // the write at 0 makes the server start over
	}
	if res.Resumed < 0 {
		res.Resumed = off
	}
	t.progress(off, res.Size)
	buf := make([]byte, min(int64(t.opts.ChunkSize), max(res.Size, 1)))
	resyncs := 0
	for off < res.Size {
		n := int(min(int64(len(buf)), res.Size-off))
		if _, err := f.ReadAt(buf[:n], off); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("filetransfer: %w", err)
		}
		if err := t.wait(ctx, n); err != nil {
			return err
		}
		q := url.Values{"name": {name}, "offset": {strconv.FormatInt(off, 10)}}
		resp, err := t.call(ctx, PathUploadWrite+"?"+q.Encode(), buf[:n])
		if errors.Is(err, ErrOffset) && resyncs < maxResyncs {
			// A retried write that had been stored, a restarted server
			// or another client: continue from what the server has.
			st, err := t.uploadStat(ctx, name)
			if err != nil {
				return err
			}
			next := st.Have
			if next > res.Size {
				next = 0
			}
			if next > off {
				res.Sent += next - off // our lost-answer writes
				resyncs = 0
			} else {
				resyncs++
			}
			off = next
			t.progress(off, res.Size)
			continue
		}
		if err != nil {
			return fmt.Errorf("filetransfer: write %q at %d: %w", name, off, err)
		}
		var ws UploadStatResponse
		if err := json.Unmarshal(resp, &ws); err != nil || ws.Have != off+int64(n) {
			return fmt.Errorf("filetransfer: write %q at %d: bad answer %.100q", name, off, resp)
		}
		resyncs = 0
		off += int64(n)
		res.Sent += int64(n)
		t.progress(off, res.Size)
	}
	q := url.Values{"name": {name}, "size": {strconv.FormatInt(res.Size, 10)}, "sha256": {res.SHA256}}
	if _, err := t.call(ctx, PathUploadCommit+"?"+q.Encode(), nil); err != nil {
		return fmt.Errorf("filetransfer: commit %q: %w", name, err)
	}
	return nil
}

func (t *transfer) uploadStat(ctx context.Context, name string) (*UploadStatResponse, error) {
	q := url.Values{"name": {name}}
	resp, err := t.call(ctx, PathUploadStat+"?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("filetransfer: stat %q: %w", name, err)
	}
	var st UploadStatResponse
	if err := json.Unmarshal(resp, &st); err != nil || st.Have < 0 {
		return nil, fmt.Errorf("filetransfer: stat %q: bad answer %.100q", name, resp)
	}
	return &st, nil
}
