package e2e

// Issue #14's server-wide bound on the built echo_server binary: with the default limits,
// 1,000 hostile connections must not take a server past 256 MiB of resident memory.

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/iip"
)

// iipFrame is one IIP frame (iip/PROTOCOL.md §1): status, NUL-terminated path, channel,
// the length it declares, then data (which may be shorter than declared: the attacker stops).
func iipFrame(status byte, path string, channel uint32, declared int, data []byte) []byte {
	b := append([]byte{status}, path...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint32(b, channel)
	b = binary.BigEndian.AppendUint32(b, uint32(declared))
	return append(b, data...)
}

// vmHWM returns the peak resident set size of pid in bytes (/proc/PID/status VmHWM), or -1.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			if kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64); err == nil {
				return kb << 10
			}
		}
	}
	return -1
}

// TestHostileEchoServerThousandConnections attacks the built echo_server with 1,000 raw
// connections of three kinds, none of which ever reads: a request declaring 16 MiB that
// stops after 64 KiB (row 6), 64 pipelined 64 KiB requests whose replies are never read
// (row 4), and the first 1 MiB frame of a multi-frame message that never continues (row 3's
// IIP twin). Unbounded that is about 1.7 GiB. The server's peak resident memory must stay
// under 256 MiB while a good client is answered, and the server must keep running.
func TestHostileEchoServerThousandConnections(t *testing.T) {
	const (
		conns    = 1000
		budget   = 256 << 20
		parallel = 64
	)
	srv := start(t, nil, "echo_server", "--iip-addr=127.0.0.1:0", "--http-addr=", "--adapter-addr=")
	addr := srv.addrs("iip")[0]
	pid := srv.cmd.Process.Pid
	before := vmRSS(pid)
	if before < 0 {
		t.Skip("no /proc status: resident memory cannot be read here")
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	good, err := iip.Dial(ctx, addr, iip.WithLogger(slog.New(slog.DiscardHandler)), iip.WithDialTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	echo := func(what string) time.Duration {
		t.Helper()
		// Each call gets its own deadline: the attack before it may take
		// most of waitTimeout (its writes block up to 5 s each once the
		// server stops reading them).
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		t0 := time.Now()
		got, err := good.Do(ctx, "/echo", []byte(what))
		if err != nil || !bytes.Equal(got, []byte(what)) {
			t.Fatalf("good client %s: %q, %v", what, got, err)
		}
		return time.Since(t0)
	}
	echo("before")

	chunk := bytes.Repeat([]byte{'x'}, 64<<10)
	big := bytes.Repeat([]byte{'y'}, 1<<20)
	attacks := [][]byte{
		// row 6: declares 16 MiB, sends 64 KiB
		iipFrame(1, "/echo", 1, 16<<20, chunk),
		// row 4: 64 pipelined requests, replies never read
		bytes.Repeat(iipFrame(1, "/echo", 1, len(chunk), chunk), 64),
		// the first frame of a multi-frame message that never continues
		iipFrame(0, "/echo", 1, len(big), big),
	}
	newChannel := iipFrame(1, "/sys/new_channel", 0, 2, []byte("{}"))

	var (
		mu       sync.Mutex
		open     []net.Conn
		wg       sync.WaitGroup
		stopped  int // writes the server stopped taking (closed, or blocked past the deadline)
		dialFail int
	)
	defer func() {
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
	}()
	sem := make(chan struct{}, parallel)
	t0 := time.Now()
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				mu.Lock()
				dialFail++
				mu.Unlock()
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(append(append([]byte{}, newChannel...), attacks[i%len(attacks)]...)); err != nil {
				mu.Lock()
				stopped++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	attack := time.Since(t0)

	took := echo("during the attack")
	if srv.exited() {
		t.Fatalf("echo_server exited during the attack: %v", srv.wait())
	}
	rss, peak := vmRSS(pid), vmHWM(pid)
	t.Logf("%d hostile connections (%d dials failed, %d writes stopped by the server) in %s; echo_server RSS %d MiB before, %d MiB after, peak %d MiB (budget %d MiB); good call during the attack %s",
		conns, dialFail, stopped, attack.Round(time.Millisecond), before>>20, rss>>20, peak>>20, budget>>20, took.Round(time.Millisecond))
	if peak > budget {
		t.Fatalf("echo_server's peak resident memory %d MiB exceeds the %d MiB budget of issue #14 under %d hostile connections", peak>>20, budget>>20, conns)
	}
}
