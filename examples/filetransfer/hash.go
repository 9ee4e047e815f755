package filetransfer

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"sync"
	"time"
)

// hashCache remembers the SHA-256 of files by name, valid while their size
// and modification time stay the same, so that a stat per resumed transfer
// does not hash the whole file again.
type hashCache struct {
	mu sync.Mutex
	m  map[string]hashEntry
}

type hashEntry struct {
	size  int64
	mtime time.Time
	sum   string
}

// sum returns the hex SHA-256 of f, whose FileInfo is fi.
func (h *hashCache) sum(name string, f *os.File, fi os.FileInfo) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e, ok := h.m[name]; ok && e.size == fi.Size() && e.mtime.Equal(fi.ModTime()) {
		return e.sum, nil
	}
	sum, err := hashFile(f)
	if err != nil {
		return "", err
	}
	if h.m == nil {
		h.m = make(map[string]hashEntry)
	}
	h.m[name] = hashEntry{size: fi.Size(), mtime: fi.ModTime(), sum: sum}
	return sum, nil
}

// hashFile returns the hex SHA-256 of f's whole content, reading it from
// the start without moving its offset.
func hashFile(f *os.File) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
