package main

import (
	"bufio"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
)

// rssBudget is issue #14's bound: with the default limits, 1,000 hostile connections must
// not take a server past 256 MiB of resident memory.
const rssBudget = 256 << 20

// procStatus reads a "VmXXX:  N kB" line of /proc/PID/status, in bytes.
func procStatus(t *testing.T, pid int, key string) int64 {
	t.Helper()
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Skipf("no /proc status for the server (%v): resident memory cannot be read here", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("/proc/%d/status %s: %v", pid, key, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("/proc/%d/status has no %s line", pid, key)
	return 0
}

// napHeader is a nap frame header: length, stream ID, type, flags (nap/PROTOCOL.md §1).
func napHeader(length int, stream uint32, typ, flags byte) []byte {
	h := make([]byte, 10)
	binary.BigEndian.PutUint32(h[0:4], uint32(length))
	binary.BigEndian.PutUint32(h[4:8], stream)
	h[8], h[9] = typ, flags
	return h
}

// TestHostileBinaryThousandConnections: issue #14's server-wide bound, on the real
// etserver binary with its default limits. 1,000 raw connections each complete the nap
// handshake, then send 1 MiB of messages they never finish (four streams, 256 KiB each,
// every DATA frame flagged MORE) and never read anything: unbounded, that is 1 GiB the
// server would hold. The server's peak resident memory (VmHWM) must stay under 256 MiB, a
// good client must log in, write and read while the attackers are connected, and the
// server must still be running.
func TestHostileBinaryThousandConnections(t *testing.T) {
	const (
		conns     = 1000
		streams   = 4
		perStream = 256 << 10 // nap's default stream window
		frame     = 64 << 10  // nap's default frame size
		parallel  = 64        // attackers writing at once
	)
	bin, env := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	runBinary(t, bin, env, "seed", "--insecure-fast-hashes", "--data-dir", data, "--users", "10")
	srv := startBinary(t, bin, env, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", data)
	pid := srv.Cmd.Process.Pid
	before := procStatus(t, pid, "VmRSS")

	good, err := dora.NewClient(srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	roundTrip(t, good, "1")

	payload := make([]byte, frame)
	for i := range payload {
		payload[i] = byte(i)
	}
	var (
		mu       sync.Mutex
		open     []net.Conn
		wg       sync.WaitGroup
		sent     atomic.Int64
		refused  atomic.Int64 // writes the server stopped (reset, closed, window full)
		dialFail atomic.Int64
	)
	defer func() {
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
	}()
	sem := make(chan struct{}, parallel)
	start := time.Now()
	for i := 0; i < conns; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", srv.addr, 10*time.Second)
			if err != nil {
				dialFail.Add(1)
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			// A write the server never makes room for ends at the deadline: the attacker
			// never reads, so it never sees window updates.
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			w := bufio.NewWriterSize(c, 16<<10)
			w.Write(append(napHeader(2, 0, 2, 0), 0, 1)) // SETTINGS: version 1, defaults
			for s := 0; s < streams; s++ {
				id := uint32(2*s + 1)
				for off := 0; off < perStream; off += frame {
					w.Write(napHeader(frame, id, 0, 1)) // DATA, MORE: never finished
					w.Write(payload)
				}
			}
			if err := w.Flush(); err != nil {
				refused.Add(1)
				return
			}
			sent.Add(streams * perStream)
		}()
	}
	wg.Wait()
	attack := time.Since(start)

	// The attackers are still connected: a good client must be served (and the server
	// must still run: checked on srv.Done() below).
	callStart := time.Now()
	roundTrip(t, good, "2")
	fresh, err := dora.NewClient(srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, fresh, "3")
	fresh.Close()
	calls := time.Since(callStart)

	rss := procStatus(t, pid, "VmRSS")
	peak := procStatus(t, pid, "VmHWM")
	select {
	case <-srv.Done():
		t.Fatalf("etserver exited: %v\n%s", srv.Err(), srv.log())
	default:
	}
	t.Logf("%d hostile connections (%d dials failed) in %s: %d MiB accepted whole by the socket, %d connections stopped by the server; server RSS %d MiB before, %d MiB after, peak %d MiB (budget %d MiB); good client's two round trips took %s",
		conns, dialFail.Load(), attack.Round(time.Millisecond), sent.Load()>>20, refused.Load(), before>>20, rss>>20, peak>>20, rssBudget>>20, calls.Round(time.Millisecond))
	if peak > rssBudget {
		t.Fatalf("etserver's peak resident memory %d MiB exceeds the %d MiB budget of issue #14 under %d hostile connections", peak>>20, rssBudget>>20, conns)
	}
}
