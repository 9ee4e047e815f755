package servicestest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

// Bounds of the test.
const (
	startTimeout = 10 * time.Second // for redis-server to print that it is ready
	writers      = 8                // connections writing at once
	batch        = 32               // SETs pipelined per round trip
	killAfter    = 20000            // acknowledged writes before the SIGKILL
	loadTimeout  = 10 * time.Second // for those writes
)

// persistenceFlags are the Redis persistence flags of scripts/services.sh, read from the
// script itself so that the test checks what it starts.
func persistenceFlags(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not found")
	}
	script, err := filepath.Abs("../../../scripts/services.sh")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", "-c", `. "$1" && pocket_redis_persistence`, "services", script).Output()
	if err != nil {
		t.Fatalf("reading the flags from %s: %v", script, err)
	}
	flags := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(flags) < 2 {
		t.Fatalf("%s: pocket_redis_persistence printed %q", script, out)
	}
	return flags
}

// redis is a redis-server process of the test's own, on its own port and directory.
type redis struct {
	addr string
	cmd  *exec.Cmd
	done chan error
	log  *strings.Builder
	mu   *sync.Mutex
}

// startRedis runs redis-server on 127.0.0.1:port with its data in dir and flags, and returns
// once it says it accepts connections.
func startRedis(t *testing.T, port int, dir string, flags []string) *redis {
	t.Helper()
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--daemonize", "no", "--logfile", "", "--protected-mode", "no"}, flags...)
	r := &redis{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), done: make(chan error, 1), log: &strings.Builder{}, mu: &sync.Mutex{}}
	r.cmd = exec.Command("redis-server", args...)
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			r.mu.Lock()
			r.log.WriteString(sc.Text() + "\n")
			r.mu.Unlock()
			if strings.Contains(sc.Text(), "Ready to accept connections") {
				once.Do(func() { close(ready) })
			}
		}
		r.done <- r.cmd.Wait()
	}()
	t.Cleanup(func() { r.kill() })
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case <-ready:
		return r
	case err := <-r.done:
		r.done <- err
		t.Fatalf("redis-server exited before it was ready (%v):\n%s", err, r.output())
	case <-timer.C:
		t.Fatalf("redis-server not ready within %v:\n%s", startTimeout, r.output())
	}
	return nil
}

func (r *redis) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.String()
}

// kill SIGKILLs the process (if it still runs) and waits for it.
func (r *redis) kill() {
	if r.cmd.ProcessState != nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	err := <-r.done
	r.done <- err
}

// freePort returns a loopback port nothing listened on a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// command encodes one RESP command.
func command(args ...string) []byte {
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = append(b, "$"+strconv.Itoa(len(a))+"\r\n"+a+"\r\n"...)
	}
	return b
}

func key(w, i int) string   { return fmt.Sprintf("dur:%d:%d", w, i) }
func value(w, i int) string { return fmt.Sprintf("v%d.%d", w, i) }

// load writes from several connections until the server goes away; acked[w] is how many
// SETs of writer w the server answered +OK (they are its keys 0..acked[w]-1, in order).
// enough is closed once killAfter writes were acknowledged in all.
func load(addr string, acked []atomic.Int64, enough chan<- struct{}) {
	var total atomic.Int64
	var once sync.Once
	var wg sync.WaitGroup
	for w := range acked {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(loadTimeout + 5*time.Second))
			rd := bufio.NewReader(conn)
			for i := 0; ; i += batch {
				var buf []byte
				for j := i; j < i+batch; j++ {
					buf = append(buf, command("SET", key(w, j), value(w, j))...)
				}
				if _, err := conn.Write(buf); err != nil {
					return
				}
				for range batch {
					line, err := rd.ReadString('\n')
					if err != nil || line != "+OK\r\n" {
						return
					}
					acked[w].Add(1)
					if total.Add(1) == killAfter {
						once.Do(func() { close(enough) })
					}
				}
			}
		}()
	}
	wg.Wait()
}

// missing counts the acknowledged keys that the server at addr no longer has (or has with
// another value).
func missing(t *testing.T, addr string, acked []atomic.Int64) (lost, checked int) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	rd := bufio.NewReader(conn)
	for w := range acked {
		n := int(acked[w].Load())
		for i := 0; i < n; i += 500 {
			args := []string{"MGET"}
			for j := i; j < min(i+500, n); j++ {
				args = append(args, key(w, j))
			}
			if _, err := conn.Write(command(args...)); err != nil {
				t.Fatal(err)
			}
			head, err := rd.ReadString('\n')
			if err != nil || head != "*"+strconv.Itoa(len(args)-1)+"\r\n" {
				t.Fatalf("MGET answered %q, %v", head, err)
			}
			for j := i; j < min(i+500, n); j++ {
				checked++
				l, err := rd.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if l == "$-1\r\n" {
					lost++
					continue
				}
				v, err := rd.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if strings.TrimSuffix(v, "\r\n") != value(w, j) {
					lost++
				}
			}
		}
	}
	return lost, checked
}

// crashUnderLoad starts Redis with flags, writes under load, SIGKILLs it after killAfter
// acknowledged writes, restarts it on the same directory with the same flags and returns
// how many acknowledged writes it no longer has.
func crashUnderLoad(t *testing.T, flags []string) (lost, acknowledged int) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not found: scripts/services.sh (make test) installs it")
		}
		t.Skip("redis-server not found (scripts/services.sh installs it)")
	}
	dir, port := t.TempDir(), freePort(t)
	r := startRedis(t, port, dir, flags)
	acked := make([]atomic.Int64, writers)
	enough := make(chan struct{})
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		load(r.addr, acked, enough)
	}()
	select {
	case <-enough:
	case <-loaded:
		t.Fatalf("the writers stopped before %d writes:\n%s", killAfter, r.output())
	case <-time.After(loadTimeout):
		t.Fatalf("fewer than %d writes in %v", killAfter, loadTimeout)
	}
	r.kill() // SIGKILL while the writers are still writing
	<-loaded // they stop at the broken connection

	r = startRedis(t, port, dir, flags)
	lost, checked := missing(t, r.addr, acked)
	return lost, checked
}

// TestServicesRedisKeepsAcknowledgedWrites: a Redis started with the persistence flags of
// scripts/services.sh, SIGKILLed under write load from 8 connections and restarted on the
// same directory, still has every write it acknowledged.
func TestServicesRedisKeepsAcknowledgedWrites(t *testing.T) {
	flags := persistenceFlags(t)
	lost, acked := crashUnderLoad(t, flags)
	t.Logf("flags %q: %d acknowledged writes, %d lost after kill -9 and restart", flags, acked, lost)
	if acked < killAfter {
		t.Fatalf("only %d acknowledged writes checked, want at least %d", acked, killAfter)
	}
	if lost != 0 {
		t.Fatalf("%d of %d acknowledged writes lost", lost, acked)
	}
}

// TestRedisWithoutPersistenceLoses is the control: with the flags services.sh used before
// (no snapshots, no append-only file) the same crash loses every acknowledged write, so the
// test above would notice a setup that keeps nothing.
func TestRedisWithoutPersistenceLoses(t *testing.T) {
	lost, acked := crashUnderLoad(t, []string{"--save", "", "--appendonly", "no"})
	t.Logf("no persistence: %d acknowledged writes, %d lost", acked, lost)
	if lost != acked {
		t.Fatalf("%d of %d lost without persistence, want all", lost, acked)
	}
}
