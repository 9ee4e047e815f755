//go:build linux

package httpadapter

// Hostile-peer test of issue #14 row 8 for the adapter's own Serve: 400 connections to a
// server whose process is out of descriptors must not stop it.

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/iip"
)

// msgHandler sends the message of every record to a channel (dropped when it is full), so
// that the test waits on log events.
type msgHandler struct{ ch chan string }

func (h msgHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h msgHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h msgHandler) WithGroup(string) slog.Handler            { return h }
func (h msgHandler) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.ch <- r.Message:
	default:
	}
	return nil
}

// waitMsg waits for a record whose message is want.
func waitMsg(t *testing.T, ch <-chan string, want string, serveDone <-chan struct{}) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		select {
		case m := <-ch:
			if m == want {
				return
			}
		case <-serveDone:
			t.Fatalf("Serve returned while waiting for %q", want)
		case <-deadline.C:
			t.Fatalf("no log record %q within %v", want, waitTimeout)
		}
	}
}

// TestHostileAcceptEMFILE is issue #14 row 8 for httpadapter: with the process's descriptors
// exhausted, 150 raw connections make Accept fail with EMFILE. Serve must keep running, log
// the burst once, and serve good clients again once descriptors come back.
func TestHostileAcceptEMFILE(t *testing.T) {
	const attackers = 150
	_, addr := serveIIP(t, map[string]iip.HandlerFunc{
		"/echo": func(_ context.Context, r *iip.Request) ([]byte, error) { return r.Data, nil },
	})
	records := make(chan string, 64)
	s, err := NewServer(WithLogger(slog.New(msgHandler{records})), WithAccessLog(false), WithIIPRoute(Route{Backend: iipClient(t, addr)}))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveDone := make(chan struct{})
	go func() {
		defer close(serveDone)
		if err := s.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}()
	defer func() {
		s.Close()
		select {
		case <-serveDone:
		case <-time.After(waitTimeout):
			t.Error("Serve did not return after Close")
		}
	}()
	front := l.Addr().String()
	goodClients(t, "http://"+front+"/echo", 8)
	base := heapLive()

	// Sockets made before the limit is lowered connect after it (connect needs no descriptor).
	fds := make([]int, 0, attackers)
	defer func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}()
	for range attackers {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
	}
	ta := l.Addr().(*net.TCPAddr)
	sa := &syscall.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())

	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	low := old
	low.Cur = uint64(len(es) + 3)
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
	for _, fd := range fds {
		if err := syscall.Connect(fd, sa); err != nil {
			restore()
			t.Fatalf("connect: %v", err)
		}
	}
	func() {
		defer restore() // whatever happens, give the descriptors back
		waitMsg(t, records, "accept failed; retrying with backoff", serveDone)
	}()
	for _, fd := range fds {
		syscall.Close(fd)
	}
	fds = nil
	waitMsg(t, records, "accepting again", serveDone)
	goodClients(t, "http://"+front+"/echo", 16)
	checkHeap(t, "150 connections while out of descriptors", base, 8<<20)
}
