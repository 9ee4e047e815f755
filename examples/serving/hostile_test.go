//go:build linux

package serving_test

// Hostile-peer test of issue #14 row 8 ("400 connections to a server started with ulimit -n
// 256: etserver, echo_server and file_server exit"): serving.Run with a real IIP server and a
// real httpadapter in front of it, the descriptor limit of the process lowered, and raw TCP
// connections that exhaust it.

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/examples/echo"
	"github.com/seed857a6cbd/pocket/examples/serving"
	"github.com/seed857a6cbd/pocket/httpadapter"
	"github.com/seed857a6cbd/pocket/iip"
)

// recordHandler sends the message and listener of every record to a channel (dropping them
// when nobody reads), so that the test waits on log events instead of sleeping.
type recordHandler struct{ ch chan string }

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h recordHandler) WithGroup(string) slog.Handler            { return h }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	s := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "listener" {
			s += " " + a.Value.String()
		}
		return true
	})
	select {
	case h.ch <- s:
	default:
	}
	return nil
}

// waitLog waits for a record starting with want, within d.
func waitLog(t *testing.T, ch <-chan string, want string, d time.Duration) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		select {
		case s := <-ch:
			if strings.HasPrefix(s, want) {
				return
			}
		case <-deadline.C:
			t.Fatalf("no log record %q within %v", want, d)
		}
	}
}

func heapLive() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// openFDs counts the process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(es) - 1 // the directory being read
}

// rawSockets creates n TCP sockets, not connected: made before the descriptor limit is
// lowered, they can connect after it (connect needs no new descriptor).
func rawSockets(t *testing.T, n int) []int {
	t.Helper()
	fds := make([]int, 0, n)
	for range n {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
	}
	return fds
}

func sockaddr(t *testing.T, addr string) *syscall.SockaddrInet4 {
	t.Helper()
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	sa := &syscall.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	return sa
}

// goodCalls makes one IIP call and one HTTP call through the adapter and fails the test
// unless both echo.
func goodCalls(t *testing.T, iipAddr, httpAddr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := iip.Dial(ctx, iipAddr, iip.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatalf("good IIP client: %v", err)
	}
	defer c.Close()
	if resp, err := c.Do(ctx, echo.Path, []byte("good")); err != nil || string(resp) != "good" {
		t.Fatalf("good IIP call: %q, %v", resp, err)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+httpAddr+echo.Path, strings.NewReader("good http"))
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("good HTTP call: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "good http" {
		t.Fatalf("good HTTP call: %d %q", resp.StatusCode, b)
	}
}

// TestHostileAcceptEMFILE is issue #14 row 8 for the example servers: with the descriptors
// of the process nearly exhausted, 150 connections to each listener make Accept fail with
// EMFILE. The servers must keep running (Run does not return), log the burst, and serve
// good clients again once descriptors come back.
func TestHostileAcceptEMFILE(t *testing.T) {
	const attackers = 150
	records := make(chan string, 64)
	log := slog.New(recordHandler{records})
	quiet := slog.New(slog.DiscardHandler)
	srv, err := iip.NewServer(iip.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	echo.Register(srv)
	iipLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	backend, err := iip.NewLoadBalanceClient(iipLn.Addr().String(), iip.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	adapter, err := httpadapter.NewServer(httpadapter.WithLogger(quiet), httpadapter.WithIIPRoute(httpadapter.Route{Backend: backend}))
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- serving.Run(ctx, pw, log, time.Second,
			serving.Listener{Name: "iip", Listener: iipLn, Server: srv},
			serving.Listener{Name: "adapter", Addr: "127.0.0.1:0", Server: adapter})
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var addrs []string
	for len(addrs) < 2 && sc.Scan() {
		_, addr, _ := strings.Cut(sc.Text(), " listening on ")
		addrs = append(addrs, addr)
	}
	go io.Copy(io.Discard, pr) //nolint:errcheck // drains until Run closes the pipe
	if len(addrs) < 2 {
		t.Fatalf("Run printed %q", addrs)
	}
	goodCalls(t, addrs[0], addrs[1])
	base := heapLive()

	socks := [][]int{rawSockets(t, attackers), rawSockets(t, attackers)}
	closeSocks := func() {
		for _, fds := range socks {
			for _, fd := range fds {
				syscall.Close(fd)
			}
		}
		socks = nil
	}
	defer closeSocks()

	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	low := old
	low.Cur = uint64(openFDs(t) + 4)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skipf("cannot lower RLIMIT_NOFILE: %v", err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
				t.Errorf("restoring RLIMIT_NOFILE: %v", err)
			}
		}
	}
	defer restore()
	for i, addr := range addrs {
		sa := sockaddr(t, addr)
		for _, fd := range socks[i] {
			if err := syscall.Connect(fd, sa); err != nil {
				restore()
				t.Fatalf("connect to %s: %v", addr, err)
			}
		}
	}
	// Both listeners hit EMFILE and say so once; the servers keep running.
	got := map[string]bool{}
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for !got["iip"] || !got["adapter"] {
		select {
		case s := <-records:
			if name, ok := strings.CutPrefix(s, "accept failed; retrying with backoff "); ok {
				got[name] = true
			}
		case <-deadline.C:
			restore()
			t.Fatalf("listeners that logged an accept failure within 10 s: %v, want iip and adapter", got)
		case err := <-done:
			restore()
			t.Fatalf("Run returned while out of descriptors: %v", err)
		}
	}

	// Descriptors come back: the backlog drains and good clients are served again.
	restore()
	closeSocks()
	waitLog(t, records, "accepting again", 10*time.Second)
	goodCalls(t, addrs[0], addrs[1])
	select {
	case err := <-done:
		t.Fatalf("Run returned after the burst: %v", err)
	default:
	}
	grew := int64(heapLive()) - int64(base)
	t.Logf("live heap grew by %.1f MiB (budget 8 MiB)", float64(grew)/(1<<20))
	if grew > 8<<20 {
		t.Errorf("live heap grew by %.1f MiB, over the budget of 8 MiB", float64(grew)/(1<<20))
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
