package health_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/health"
	"github.com/seed857a6cbd/pocket/dora/status"
)

// start serves hs on a real dora server over loopback and returns a client; both are
// stopped by the test's cleanup.
func start(t *testing.T, hs *health.Server) (health.HealthClient, *dora.Server) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := dora.NewServer()
	health.RegisterHealthServer(srv, hs)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(lis) }()
	client, err := dora.NewClient(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		srv.Stop()
		<-done
	})
	return health.NewHealthClient(client), srv
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestCheck(t *testing.T) {
	hs := health.NewServer()
	c, _ := start(t, hs)
	ctx := ctxT(t)
	hs.SetServingStatus("svc.A", health.NotServing)
	cases := []struct {
		name    string
		service string
		want    health.HealthCheckResponse_ServingStatus
		code    codes.Code
	}{
		{"whole server", "", health.Serving, codes.OK},
		{"set service", "svc.A", health.NotServing, codes.OK},
		{"unknown service", "svc.B", 0, codes.NotFound},
		{"name too long", strings.Repeat("x", health.MaxServiceName+1), 0, codes.InvalidArgument},
		{"longest name", strings.Repeat("x", health.MaxServiceName), 0, codes.NotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.Check(ctx, &health.HealthCheckRequest{Service: tc.service})
			if status.Code(err) != tc.code {
				t.Fatalf("Check(%q) error %v, want code %v", tc.service, err, tc.code)
			}
			if err == nil && resp.Status != tc.want {
				t.Fatalf("Check(%q) = %v, want %v", tc.service, resp.Status, tc.want)
			}
		})
	}
	hs.ClearStatus("svc.A")
	if _, err := c.Check(ctx, &health.HealthCheckRequest{Service: "svc.A"}); status.Code(err) != codes.NotFound {
		t.Fatalf("Check after ClearStatus: %v, want NotFound", err)
	}
}

func TestWatchUpdates(t *testing.T) {
	hs := health.NewServer()
	c, _ := start(t, hs)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	stream, err := c.Watch(ctx, &health.HealthCheckRequest{Service: "svc.A"})
	if err != nil {
		t.Fatal(err)
	}
	expect := func(want health.HealthCheckResponse_ServingStatus) {
		t.Helper()
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv: %v (want %v)", err, want)
		}
		if resp.Status != want {
			t.Fatalf("Watch sent %v, want %v", resp.Status, want)
		}
	}
	expect(health.ServiceUnknown)
	hs.SetServingStatus("svc.A", health.Serving)
	expect(health.Serving)
	hs.SetServingStatus("svc.A", health.Serving) // no change: nothing sent
	hs.SetServingStatus("svc.B", health.NotServing)
	hs.SetServingStatus("svc.A", health.NotServing)
	expect(health.NotServing)
	hs.ClearStatus("svc.A")
	expect(health.ServiceUnknown)
	cancel()
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("Recv after cancel: %v, want Canceled", err)
	}
}

// A watcher that does not read holds one pending status, and gets the latest when it
// reads again.
func TestWatchSlowReaderGetsLatest(t *testing.T) {
	hs := health.NewServer()
	c, _ := start(t, hs)
	ctx := ctxT(t)
	stream, err := c.Watch(ctx, &health.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != nil || resp.Status != health.Serving {
		t.Fatalf("first Recv: %v %v", resp, err)
	}
	for i := range 1000 {
		hs.SetServingStatus("", health.HealthCheckResponse_ServingStatus(1+i%2))
	}
	hs.SetServingStatus("", health.NotServing)
	// Whatever intermediate statuses were sent, the last one received is NOT_SERVING and
	// arrives within the deadline.
	for {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status == health.NotServing {
			break
		}
	}
}

func TestShutdownEndsWatchAndResume(t *testing.T) {
	hs := health.NewServer()
	c, _ := start(t, hs)
	ctx := ctxT(t)
	hs.SetServingStatus("svc.A", health.Serving)
	stream, err := c.Watch(ctx, &health.HealthCheckRequest{Service: "svc.A"})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != nil || resp.Status != health.Serving {
		t.Fatalf("first Recv: %v %v", resp, err)
	}
	hs.Shutdown()
	if resp, err := stream.Recv(); err != nil || resp.Status != health.NotServing {
		t.Fatalf("Recv after Shutdown: %v %v, want NOT_SERVING", resp, err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("Recv after NOT_SERVING: %v, want Unavailable", err)
	}
	hs.SetServingStatus("svc.A", health.Serving) // ignored while shut down
	for _, svc := range []string{"", "svc.A"} {
		resp, err := c.Check(ctx, &health.HealthCheckRequest{Service: svc})
		if err != nil || resp.Status != health.NotServing {
			t.Fatalf("Check(%q) during shutdown: %v %v", svc, resp, err)
		}
	}
	// A Watch begun during shutdown sends NOT_SERVING and ends.
	stream, err = c.Watch(ctx, &health.HealthCheckRequest{Service: "svc.A"})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != nil || resp.Status != health.NotServing {
		t.Fatalf("Watch during shutdown: %v %v", resp, err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("Watch during shutdown: %v, want Unavailable", err)
	}
	hs.Resume()
	if resp, err := c.Check(ctx, &health.HealthCheckRequest{Service: "svc.A"}); err != nil || resp.Status != health.Serving {
		t.Fatalf("Check after Resume: %v %v", resp, err)
	}
}

// Shutdown then GracefulStop: open Watch calls do not hold the server.
func TestShutdownLetsGracefulStopFinish(t *testing.T) {
	hs := health.NewServer()
	c, srv := start(t, hs)
	ctx := ctxT(t)
	streams := make([]dora.ServerStreamingClient[health.HealthCheckResponse], 3)
	for i := range streams {
		s, err := c.Watch(ctx, &health.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
		streams[i] = s
	}
	hs.Shutdown()
	stopCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.GracefulStop(stopCtx); err != nil {
		t.Fatalf("GracefulStop with watchers after Shutdown: %v (after %v)", err, time.Since(start))
	}
	for _, s := range streams {
		for {
			if _, err := s.Recv(); err != nil {
				break
			}
		}
	}
}

func TestMaxWatchers(t *testing.T) {
	hs := health.NewServer(health.MaxWatchers(2))
	c, _ := start(t, hs)
	ctx := ctxT(t)
	for range 2 {
		s, err := c.Watch(ctx, &health.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Watch(ctx, &health.HealthCheckRequest{})
	if err == nil {
		_, err = s.Recv()
	}
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third Watch: %v, want ResourceExhausted", err)
	}
	if !errors.Is(err, status.Error(codes.ResourceExhausted, "")) {
		t.Fatal("errors.Is by code")
	}
	s, err = c.Watch(ctx, &health.HealthCheckRequest{Service: strings.Repeat("x", health.MaxServiceName+1)})
	if err == nil {
		_, err = s.Recv()
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Watch with a long name: %v, want InvalidArgument", err)
	}
}
