//go:build linux

package dora_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/internal/testkit"
)

// signalHandler is a slog.Handler that closes a channel the first time a record whose
// message contains a key is logged.
type signalHandler struct {
	keys map[string]chan struct{}
}

func (h *signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *signalHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *signalHandler) WithGroup(string) slog.Handler            { return h }
func (h *signalHandler) Handle(_ context.Context, r slog.Record) error {
	for k, ch := range h.keys {
		if strings.Contains(r.Message, k) {
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
	}
	return nil
}

const emfileChildEnv = "DORA_HOSTILE_EMFILE_CHILD"

// TestHostileAcceptEMFILE: issue #14 row 8 with a real EMFILE. A child process lowers
// its descriptor limit, serves, and is flooded with connections until accept4 fails with
// "too many open files"; the server must keep serving and answer a good client once the
// connections are gone. (Before, Serve returned and etserver exited.)
func TestHostileAcceptEMFILE(t *testing.T) {
	if os.Getenv(emfileChildEnv) == "1" {
		emfileChild(t)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHostileAcceptEMFILE$", "-test.v")
	cmd.Env = append(os.Environ(), emfileChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil {
		t.Fatalf("child failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestHostileAcceptEMFILE") {
		t.Fatal("child did not pass")
	}
}

func emfileChild(t *testing.T) {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	base := liveHeap()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	failed, recovered := make(chan struct{}), make(chan struct{})
	logger := slog.New(&signalHandler{keys: map[string]chan struct{}{"accept failed": failed, "accept recovered": recovered}})
	srv := dora.NewServer(dora.WithLogger(logger))
	echo.RegisterEchoServer(srv, &echoImpl{})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	defer func() {
		srv.Stop()
		<-done
	}()
	// Room for about 40 more descriptors, then flood.
	low := syscall.Rlimit{Cur: uint64(len(fds) + 40), Max: lim.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skipf("cannot lower RLIMIT_NOFILE: %v", err)
	}
	var conns []net.Conn
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
		conns = nil
	}
	defer closeAll()
	// Bounds for a loaded machine (the kit's): a dial or the server's log line
	// that is late is not what this test is about.
	deadline := time.After(testkit.DefaultTimeout)
	for sawFailure := false; !sawFailure; {
		c, err := net.DialTimeout("tcp", lis.Addr().String(), testkit.DefaultTimeout)
		switch {
		case err == nil:
			conns = append(conns, c)
		case errors.Is(err, syscall.EMFILE):
			// Our side is out too: free one descriptor so that one more connection
			// reaches the server's backlog while the server has none to accept it.
			if len(conns) > 0 {
				conns[0].Close()
				conns = conns[1:]
			}
		default:
			t.Fatalf("dial: %v", err)
		}
		select {
		case <-failed:
			sawFailure = true
		case err := <-done:
			t.Fatalf("Serve returned on EMFILE: %v", err)
		case <-deadline:
			t.Fatalf("no accept failure after %d connections", len(conns))
		default:
		}
		if len(conns) > 200 {
			t.Fatalf("no EMFILE after 200 connections with RLIMIT_NOFILE %d", low.Cur)
		}
	}
	t.Logf("accept failed with %d connections open (RLIMIT_NOFILE %d)", len(conns), low.Cur)
	closeAll()
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	select {
	case <-recovered:
	case err := <-done:
		t.Fatalf("Serve returned: %v", err)
	case <-time.After(testkit.DefaultTimeout):
		t.Fatal("accept did not recover after the descriptors came back")
	}
	c := newTestClient(t, lis.Addr().String())
	goodCall(t, c, "after EMFILE")
	c.Close()
	checkHeap(t, "EMFILE flood", base, 4<<20)
}
