package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
)

// The CPUs the two processes are pinned to.
const (
	serverCPU = "0"
	clientCPU = "1"
	// serverReplyTimeout bounds how long the server may take to start or to answer a
	// snapshot request.
	serverReplyTimeout = 30 * time.Second
	// serverStartTimeoutKV bounds the start of a kv server, which seeds its store first
	// (33,333 users take 4 s on two idle cores, several times that pinned to one busy
	// core).
	serverStartTimeoutKV = 5 * time.Minute
)

// pinning decides how children are started: through taskset when it is installed and
// the machine has at least two CPUs.
type pinning struct {
	taskset string // path, empty when not pinning
	reason  string // why not, when not pinning
}

func findPinning() pinning {
	if runtime.NumCPU() < 2 {
		return pinning{reason: fmt.Sprintf("the machine has %d CPU", runtime.NumCPU())}
	}
	p, err := exec.LookPath("taskset")
	if err != nil {
		return pinning{reason: "taskset is not installed (apt-get install util-linux)"}
	}
	return pinning{taskset: p}
}

// command returns the command running bin with args, pinned to cpu when pinning.
func (p pinning) command(ctx context.Context, cpu, bin string, args ...string) *exec.Cmd {
	if p.taskset == "" {
		return exec.CommandContext(ctx, bin, args...)
	}
	return exec.CommandContext(ctx, p.taskset, append([]string{"-c", cpu, bin}, args...)...)
}

// lines reads r line by line into a channel, closed at the end of r.
func lines(r io.Reader) <-chan string {
	ch := make(chan string, 16)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

// nextLine waits for the next line, failing at the end of the stream or after timeout.
func nextLine(ch <-chan string, timeout time.Duration, what string) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l, ok := <-ch:
		if !ok {
			return "", fmt.Errorf("rpcbench: %s: process ended", what)
		}
		return l, nil
	case <-t.C:
		return "", fmt.Errorf("rpcbench: %s: no answer in %v", what, timeout)
	}
}

// serverProc is a running `rpcbench server`.
type serverProc struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	in     io.WriteCloser
	out    <-chan string
	addr   string
}

// startServer starts `rpcbench server` from bin (the implementation's node) for one
// implementation of suite, with extra arguments, and waits for its address.
func startServer(p pinning, bin, suite, name string, extra ...string) (*serverProc, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := p.command(ctx, serverCPU, bin, append([]string{"server", "--suite", suite, "--framework", name}, extra...)...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("rpcbench: start server: %w", err)
	}
	s := &serverProc{cmd: cmd, cancel: cancel, in: in, out: lines(stdout)}
	timeout := serverReplyTimeout
	if suite == suiteKV {
		timeout = serverStartTimeoutKV
	}
	l, err := nextLine(s.out, timeout, "server "+name)
	if err == nil && !strings.HasPrefix(l, lineListening) {
		err = fmt.Errorf("rpcbench: server %s said %q", name, l)
	}
	if err != nil {
		s.kill()
		return nil, err
	}
	s.addr = strings.TrimPrefix(l, lineListening)
	return s, nil
}

func (s *serverProc) snapshot() (harness.Usage, error) {
	if _, err := fmt.Fprintln(s.in, lineSnapshot); err != nil {
		return harness.Usage{}, fmt.Errorf("rpcbench: server snapshot: %w", err)
	}
	l, err := nextLine(s.out, serverReplyTimeout, "server snapshot")
	if err != nil {
		return harness.Usage{}, err
	}
	body, ok := strings.CutPrefix(l, lineSnapshot+" ")
	if !ok {
		return harness.Usage{}, fmt.Errorf("rpcbench: server snapshot: unexpected line %q", l)
	}
	var u harness.Usage
	if err := json.Unmarshal([]byte(body), &u); err != nil {
		return harness.Usage{}, fmt.Errorf("rpcbench: server snapshot: %w", err)
	}
	return u, nil
}

// stop asks the server to quit and waits for it, killing it when it does not go.
func (s *serverProc) stop() error {
	fmt.Fprintln(s.in, lineQuit)
	s.in.Close()
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		s.cancel()
		return err
	case <-time.After(serverReplyTimeout):
		s.cancel()
		<-done
		return errors.New("rpcbench: server did not stop; killed")
	}
}

func (s *serverProc) kill() {
	s.cancel()
	s.in.Close()
	_ = s.cmd.Wait()
}

// runCell runs one client process from bin (the implementation's node) against srv and
// returns its measurement and the server's usage over the same window.
func runCell(p pinning, bin string, srv *serverProc, c cell) (harness.Measurement, harness.Delta, error) {
	timeout := c.warmup + c.duration + harness.StopTimeout + cellTimeoutAllowance
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := p.command(ctx, clientCPU, bin, c.args(srv.addr)...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return harness.Measurement{}, harness.Delta{}, err
	}
	if err := cmd.Start(); err != nil {
		return harness.Measurement{}, harness.Delta{}, fmt.Errorf("rpcbench: start client: %w", err)
	}
	var (
		m          harness.Measurement
		got        bool
		start, end harness.Usage
		perr       error
	)
	for l := range lines(stdout) {
		if perr != nil {
			continue // drain, then wait
		}
		switch {
		case l == linePhase+harness.PhaseStart.String():
			start, perr = srv.snapshot()
		case l == linePhase+harness.PhaseEnd.String():
			end, perr = srv.snapshot()
		case strings.HasPrefix(l, lineResult):
			perr = json.Unmarshal([]byte(strings.TrimPrefix(l, lineResult)), &m)
			got = perr == nil
		default:
			perr = fmt.Errorf("rpcbench: client said %q", l)
		}
	}
	werr := cmd.Wait()
	if ctx.Err() != nil {
		return harness.Measurement{}, harness.Delta{}, fmt.Errorf("rpcbench: client killed after %v", timeout)
	}
	if err := errors.Join(perr, werr); err != nil {
		return harness.Measurement{}, harness.Delta{}, fmt.Errorf("rpcbench: client: %w", err)
	}
	if !got {
		return harness.Measurement{}, harness.Delta{}, errors.New("rpcbench: client ended without a result")
	}
	return m, end.Sub(start), nil
}
