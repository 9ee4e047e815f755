package filetransfer_test

// Hostile-peer test of issue #14 row 16 ("upload server: a write at a wrong offset creates
// an empty NAME.part although the docs say a refused write changes nothing"): the real
// upload server on loopback, attacked with hand-written IIP frames on a raw TCP connection.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/examples/filetransfer"
	"github.com/seed857a6cbd/pocket/iip"
)

// rawFrame builds an IIP frame byte by byte (iip/PROTOCOL.md §1): status, NUL-terminated
// path, channel id and data length (big-endian uint32), data.
func rawFrame(status byte, path string, ch uint32, data string) []byte {
	b := append([]byte{status}, path...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint32(b, ch)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// readFrame reads one frame and returns its status, path, channel and data.
func readFrame(t *testing.T, br *bufio.Reader) (byte, string, uint32, string) {
	t.Helper()
	st, err := br.ReadByte()
	if err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	path, err := br.ReadString(0)
	if err != nil {
		t.Fatalf("reading a frame's path: %v", err)
	}
	var hdr [8]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		t.Fatalf("reading a frame's header: %v", err)
	}
	data := make([]byte, binary.BigEndian.Uint32(hdr[4:]))
	if _, err := io.ReadFull(br, data); err != nil {
		t.Fatalf("reading a frame's data: %v", err)
	}
	return st, strings.TrimSuffix(path, "\x00"), binary.BigEndian.Uint32(hdr[:4]), string(data)
}

func heapLive() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestHostileUploadWrongOffset is issue #14 row 16: writes at a wrong offset for 200 names
// the server has nothing of are refused with ErrOffset's message and create no NAME.part
// (the directory stays empty); a real upload alongside succeeds.
func TestHostileUploadWrongOffset(t *testing.T) {
	const names = 200
	dir := t.TempDir()
	us, err := filetransfer.NewUploadServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer us.Close()
	srv, err := iip.NewServer(iip.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	us.Register(srv)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() {
		srv.Close()
		<-served
	}()
	base := heapLive()

	c, err := net.DialTimeout("tcp", l.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	if _, err := c.Write(rawFrame(1, "/sys/new_channel", 0, "{}")); err != nil {
		t.Fatal(err)
	}
	if st, path, _, data := readFrame(t, br); st != 5 || path != "/sys/new_channel" || !strings.Contains(data, `"channel_id":1`) {
		t.Fatalf("new_channel answer: status %d path %q data %q", st, path, data)
	}
	// Pipelined on channel 1: the answers come back in order.
	var batch []byte
	for i := range names {
		batch = append(batch, rawFrame(1, fmt.Sprintf("%s?name=f%d&offset=%d", filetransfer.PathUploadWrite, i, 1+i*4096), 1, "data")...)
	}
	if _, err := c.Write(batch); err != nil {
		t.Fatal(err)
	}
	for i := range names {
		st, _, ch, data := readFrame(t, br)
		if st != 5 || ch != 1 || !strings.Contains(data, "offset") || !strings.Contains(data, "have 0 bytes") {
			t.Fatalf("write #%d at a wrong offset: status %d channel %d data %q, want the offset error", i, st, ch, data)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("refused writes left %d entries in the upload directory, want 0 (first: %s)", len(entries), entries[0].Name())
	}

	// A good client alongside: a real upload through the same server.
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, []byte(strings.Repeat("good upload ", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	cl, err := iip.NewClient(testContext(t), l.Addr().String(), iip.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := filetransfer.Upload(testContext(t), cl, src, "good", &filetransfer.Options{Logger: quiet}); err != nil {
		t.Fatalf("good upload alongside the attack: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "good"+filetransfer.PartSuffix)); !os.IsNotExist(err) {
		t.Errorf("the good upload left its .part file: %v", err)
	}
	// And the attacker's connection still works for a correct write.
	if _, err := c.Write(rawFrame(1, filetransfer.PathUploadWrite+"?name=ok&offset=0", 1, "data")); err != nil {
		t.Fatal(err)
	}
	if _, _, _, data := readFrame(t, br); !strings.Contains(data, `"have":4`) {
		t.Errorf("correct write: %q", data)
	}

	grew := int64(heapLive()) - int64(base)
	t.Logf("live heap grew by %.1f MiB (budget 4 MiB)", float64(grew)/(1<<20))
	if grew > 4<<20 {
		t.Errorf("live heap grew by %.1f MiB, over the budget of 4 MiB", float64(grew)/(1<<20))
	}
}
