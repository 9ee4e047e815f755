package e2e

import (
	"context"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/health"
	"github.com/seed857a6cbd/pocket/dora/reflection"
	"github.com/seed857a6cbd/pocket/dora/status"
)

// The echo_server binary's dora listener: the echo service and health always, reflection
// only with --reflection.
func TestEchoServerDoraReflection(t *testing.T) {
	t.Parallel()
	for _, withReflection := range []bool{true, false} {
		args := []string{"--iip-addr=127.0.0.1:0", "--http-addr=", "--adapter-addr=", "--dora-addr=127.0.0.1:0"}
		if withReflection {
			args = append(args, "--reflection")
		}
		srv := start(t, nil, "echo_server", args...)
		addr := srv.addrs("dora")[0]
		client, err := dora.NewClient(addr)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		resp, err := echo.NewEchoClient(client).Say(ctx, &echo.SayRequest{Text: "hi"})
		if err != nil || resp.Text != "hi" {
			t.Fatalf("Say = %v, %v", resp, err)
		}
		hr, err := health.NewHealthClient(client).Check(ctx, &health.HealthCheckRequest{Service: "dora.examples.echo.Echo"})
		if err != nil || hr.Status != health.Serving {
			t.Fatalf("health = %v, %v", hr, err)
		}
		list, err := reflection.NewReflectionClient(client).ListServices(ctx, &reflection.ListServicesRequest{})
		switch {
		case withReflection && err != nil:
			t.Fatalf("--reflection: ListServices: %v", err)
		case withReflection && !slices.Contains(list.Services, "dora.examples.echo.Echo"):
			t.Fatalf("--reflection: services %v", list.Services)
		case !withReflection && status.Code(err) != codes.Unimplemented:
			t.Fatalf("without --reflection: ListServices = %v, %v; want Unimplemented", list, err)
		}
		cancel()
		client.Close()
		srv.signal(syscall.SIGTERM)
		if err := srv.wait(); err != nil {
			t.Fatalf("echo_server after SIGTERM: %v", err)
		}
	}
	// --reflection without a dora listener is a usage error.
	bad := start(t, nil, "echo_server", "--iip-addr=127.0.0.1:0", "--reflection")
	if err := bad.wait(); err == nil || !strings.Contains(bad.stderr.String(), "--dora-addr") {
		t.Fatalf("--reflection alone: %v, stderr %q", err, bad.stderr.String())
	}
}
