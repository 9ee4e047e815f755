package serving_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/examples/echo"
	"github.com/seed857a6cbd/pocket/examples/internal/testkit"
	"github.com/seed857a6cbd/pocket/examples/serving"
	"github.com/seed857a6cbd/pocket/iip"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

func TestRun(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	srv, err := iip.NewServer(iip.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	echo.Register(srv)
	hs := &http.Server{Handler: echo.HTTPHandler(), ReadHeaderTimeout: time.Second}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- serving.Run(ctx, pw, log, time.Second,
			serving.Listener{Name: "iip", Addr: "127.0.0.1:0", Server: srv},
			serving.Listener{Name: "http", Addr: "127.0.0.1:0", Server: hs})
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var addrs []string
	for len(addrs) < 2 && sc.Scan() {
		_, addr, ok := strings.Cut(sc.Text(), " listening on ")
		if !ok {
			t.Fatalf("line %q", sc.Text())
		}
		addrs = append(addrs, addr)
	}
	go io.Copy(io.Discard, pr) //nolint:errcheck // drains until Run closes the pipe

	callCtx, callCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer callCancel()
	c, err := iip.Dial(callCtx, addrs[0], iip.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := c.Do(callCtx, echo.Path, []byte("ping")); err != nil || string(resp) != "ping" {
		t.Fatalf("echo: %q, %v", resp, err)
	}
	c.Close()
	resp, err := http.Post("http://"+addrs[1]+echo.BenchmarkPath, "text/plain", strings.NewReader("pong"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if string(body) != "pong" {
		t.Fatalf("http echo: %q", body)
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

func TestRunBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	log := slog.New(slog.DiscardHandler)
	srv, err := iip.NewServer(iip.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	err = serving.Run(context.Background(), io.Discard, log, 0,
		serving.Listener{Name: "ok", Addr: "127.0.0.1:0", Server: srv},
		serving.Listener{Name: "busy", Addr: l.Addr().String(), Server: srv})
	if err == nil || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("got %v, want an error naming the busy listener", err)
	}
	srv.Close()
}
