package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/health"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/reflection"
	"github.com/seed857a6cbd/pocket/dora/status"
)

// echoServer implements the example echo service; Say answers with the "user" metadata
// appended and fails with InvalidArgument on an empty text.
type echoServer struct{ echo.UnimplementedEchoServer }

func (echoServer) Say(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
	if in.Text == "" {
		return nil, status.Error(codes.InvalidArgument, "text is required")
	}
	return &echo.SayResponse{Text: in.Text + metadata.ValueFromIncomingContext(ctx, "user"), Blob: in.Blob}, nil
}

func (echoServer) Count(in *echo.CountRequest, s dora.ServerStreamingServer[echo.CountResponse]) error {
	for i := in.From; i <= in.To; i++ {
		if err := s.Send(&echo.CountResponse{N: i}); err != nil {
			return err
		}
	}
	return nil
}

func (echoServer) Collect(s dora.ClientStreamingServer[echo.SayRequest, echo.SayResponse]) error {
	var texts []string
	for {
		in, err := s.Recv()
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			break
		}
		texts = append(texts, in.Text)
	}
	return s.SendAndClose(&echo.SayResponse{Text: strings.Join(texts, ",")})
}

func (echoServer) Chat(s dora.BidiStreamingServer[echo.SayRequest, echo.SayResponse]) error {
	for {
		in, err := s.Recv()
		if err != nil {
			return nil
		}
		if err := s.Send(&echo.SayResponse{Text: "re: " + in.Text}); err != nil {
			return err
		}
	}
}

// serve starts a real dora server on loopback with the echo service and health, and
// reflection when withReflection is set.
func serve(t *testing.T, withReflection bool) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := dora.NewServer()
	echo.RegisterEchoServer(srv, echoServer{})
	hs := health.NewServer()
	hs.SetServingStatus("dora.examples.echo.Echo", health.Serving)
	hs.SetServingStatus("down.Service", health.NotServing)
	health.RegisterHealthServer(srv, hs)
	if withReflection {
		reflection.Register(srv)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return lis.Addr().String()
}

type result struct {
	stdout, stderr string
	code           int
}

// doractl runs this test binary as doractl in a process of its own.
func doractl(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	// Under -race the runtime sleeps a second at exit (atexit_sleep_ms) so that reports of
	// other goroutines get out; doractl's goroutines are done by then, and races are still
	// reported (exit status 66).
	cmd.Env = append(os.Environ(), "DORACTL_TEST_MAIN=1", "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// jsonLines decodes each line of out as a JSON object.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
		objs = append(objs, m)
	}
	return objs
}

func TestDoractlWithReflection(t *testing.T) {
	addr := serve(t, true)
	cases := []struct {
		name  string
		stdin string
		args  []string
		code  int
		check func(t *testing.T, r result)
	}{
		{name: "list", args: []string{"list", addr}, check: func(t *testing.T, r result) {
			want := "dora.examples.echo.Echo\ndora.health.v1.Health\ndora.reflection.v1.Reflection\n"
			if r.stdout != want {
				t.Fatalf("list printed %q, want %q", r.stdout, want)
			}
		}},
		{name: "describe service", args: []string{"describe", addr, "dora.examples.echo.Echo"}, check: func(t *testing.T, r result) {
			for _, s := range []string{"service dora.examples.echo.Echo", "rpc Count(dora.examples.echo.CountRequest) returns (stream dora.examples.echo.CountResponse);", "rpc Chat(stream dora.examples.echo.SayRequest) returns (stream dora.examples.echo.SayResponse);"} {
				if !strings.Contains(r.stdout, s) {
					t.Fatalf("describe lacks %q:\n%s", s, r.stdout)
				}
			}
		}},
		{name: "describe method", args: []string{"describe", addr, "dora.examples.echo.Echo/Say"}, check: func(t *testing.T, r result) {
			if !strings.Contains(r.stdout, "message dora.examples.echo.SayRequest {\n  string text = 1;\n  bytes blob = 2;\n}") {
				t.Fatalf("describe method:\n%s", r.stdout)
			}
		}},
		{name: "describe enum in message", args: []string{"describe", addr, "dora.health.v1.HealthCheckResponse"}, check: func(t *testing.T, r result) {
			if !strings.Contains(r.stdout, "SERVICE_UNKNOWN = 3;") {
				t.Fatalf("describe message:\n%s", r.stdout)
			}
		}},
		{name: "unary with metadata, flags after args", args: []string{"call", addr, "dora.examples.echo.Echo/Say", `{"text":"hi","blob":"AQI="}`, "-H", "user: bob"}, check: func(t *testing.T, r result) {
			got := jsonLines(t, r.stdout)
			if len(got) != 1 || got[0]["text"] != "hibob" || got[0]["blob"] != "AQI=" {
				t.Fatalf("call printed %v", got)
			}
		}},
		{name: "unary from stdin", stdin: `{"text":"from stdin"}`, args: []string{"call", "-d", "@-", addr, "/dora.examples.echo.Echo/Say"}, check: func(t *testing.T, r result) {
			if got := jsonLines(t, r.stdout); len(got) != 1 || got[0]["text"] != "from stdin" {
				t.Fatalf("call printed %v", got)
			}
		}},
		{name: "server streaming as JSON lines", args: []string{"call", addr, "dora.examples.echo.Echo.Count", `{"from":1,"to":3}`}, check: func(t *testing.T, r result) {
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if len(lines) != 3 {
				t.Fatalf("want 3 lines, got %q", r.stdout)
			}
			for i, l := range lines {
				if got := jsonLines(t, l); len(got) != 1 || got[0]["n"] != float64(i+1) {
					t.Fatalf("line %d: %q", i, l)
				}
			}
		}},
		{name: "client streaming from stdin", stdin: `{"text":"a"} {"text":"b"}` + "\n" + `{"text":"c"}`, args: []string{"call", "-d", "@-", addr, "dora.examples.echo.Echo/Collect"}, check: func(t *testing.T, r result) {
			if got := jsonLines(t, r.stdout); len(got) != 1 || got[0]["text"] != "a,b,c" {
				t.Fatalf("collect printed %v", got)
			}
		}},
		{name: "bidi", stdin: `{"text":"a"}{"text":"b"}`, args: []string{"call", "-d", "@-", addr, "dora.examples.echo.Echo/Chat"}, check: func(t *testing.T, r result) {
			if got := jsonLines(t, r.stdout); len(got) != 2 || got[1]["text"] != "re: b" {
				t.Fatalf("chat printed %v", got)
			}
		}},
		{name: "status InvalidArgument exits 67", args: []string{"call", addr, "dora.examples.echo.Echo/Say", `{}`}, code: 64 + int(codes.InvalidArgument), check: func(t *testing.T, r result) {
			if !strings.Contains(r.stderr, "text is required") {
				t.Fatalf("stderr %q", r.stderr)
			}
		}},
		{name: "bad JSON exits 1", args: []string{"call", addr, "dora.examples.echo.Echo/Say", `{"nope":1}`}, code: exitLocal},
		{name: "unknown method", args: []string{"call", addr, "dora.examples.echo.Echo/Nope", `{}`}, code: 64 + int(codes.NotFound)},
		{name: "deadline exits 68", args: []string{"call", "--timeout", "1ns", addr, "dora.examples.echo.Echo/Say", `{"text":"x"}`}, code: 64 + int(codes.DeadlineExceeded)},
		{name: "health server", args: []string{"health", addr}, check: func(t *testing.T, r result) {
			if r.stdout != "SERVING\n" {
				t.Fatalf("health printed %q", r.stdout)
			}
		}},
		{name: "health service", args: []string{"health", addr, "dora.examples.echo.Echo"}},
		{name: "health not serving exits 3", args: []string{"health", addr, "down.Service"}, code: exitNotServing},
		{name: "health unknown service exits 69", args: []string{"health", addr, "no.Such"}, code: 64 + int(codes.NotFound)},
		{name: "usage", args: []string{"call", addr}, code: exitUsage},
		{name: "unknown command", args: []string{"frob"}, code: exitUsage},
		{name: "reserved metadata", args: []string{"call", "-H", "dora-x:1", addr, "dora.examples.echo.Echo/Say", `{}`}, code: exitUsage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // separate processes against one server: also a concurrency check
			r := doractl(t, tc.stdin, tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

// Without reflection, doractl says so, and works from a descriptor set file.
func TestDoractlProtoset(t *testing.T) {
	addr := serve(t, false)
	r := doractl(t, "", "list", addr)
	if r.code != 64+int(codes.Unimplemented) || !strings.Contains(r.stderr, "--protoset") {
		t.Fatalf("list without reflection: exit %d, stderr %q", r.code, r.stderr)
	}
	set := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{protodesc.ToFileDescriptorProto(echo.File_echo_proto)}}
	b, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "echo.protoset")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r = doractl(t, "", "call", "--protoset", path, addr, "dora.examples.echo.Echo/Say", `{"text":"set"}`)
	if r.code != 0 {
		t.Fatalf("call with --protoset: exit %d: %s", r.code, r.stderr)
	}
	if got := jsonLines(t, r.stdout); len(got) != 1 || got[0]["text"] != "set" {
		t.Fatalf("call printed %v", got)
	}
	r = doractl(t, "", "list", "--protoset", path, addr)
	if r.code != 0 || r.stdout != "dora.examples.echo.Echo\n" {
		t.Fatalf("list with --protoset: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
}

func TestVersionAndHelp(t *testing.T) {
	if r := doractl(t, "", "--version"); r.code != 0 || !strings.HasPrefix(r.stdout, "doractl ") {
		t.Fatalf("--version: %d %q", r.code, r.stdout)
	}
	if r := doractl(t, "", "--help"); r.code != 0 || !strings.Contains(r.stdout, "doractl call") {
		t.Fatalf("--help: %d %q", r.code, r.stdout)
	}
}
