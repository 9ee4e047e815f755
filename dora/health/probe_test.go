package health_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/health"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/lbclient"
)

// flakyEcho fails Say with Unavailable (a backend failure) while failing is set.
type flakyEcho struct {
	echo.UnimplementedEchoServer
	failing atomic.Bool
}

func (f *flakyEcho) Say(context.Context, *echo.SayRequest) (*echo.SayResponse, error) {
	if f.failing.Load() {
		return nil, status.Error(codes.Unavailable, "shedding load")
	}
	return &echo.SayResponse{Text: "ok"}, nil
}

func TestProbeRestoresEjectedBackend(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := dora.NewServer()
	hs := health.NewServer()
	health.RegisterHealthServer(srv, hs)
	impl := &flakyEcho{}
	echo.RegisterEchoServer(srv, impl)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-done })

	probed := make(chan struct{}, 64)
	probe := health.Probe("")
	counted := func(ctx context.Context, addr string) error {
		defer func() {
			select {
			case probed <- struct{}{}:
			default:
			}
		}()
		return probe(ctx, addr)
	}
	// waitProbes returns once a probe that began after the call has stored its verdict
	// (probes run one after another: the third report proves the second's is stored).
	waitProbes := func() {
		t.Helper()
		for drained := false; !drained; {
			select {
			case <-probed:
			default:
				drained = true
			}
		}
		for range 3 {
			select {
			case <-probed:
			case <-time.After(5 * time.Second):
				t.Fatal("no probe")
			}
		}
	}
	client, err := dora.NewClient(lis.Addr().String(), dora.WithBalancer(
		lbclient.WithFailureThreshold(1), lbclient.WithEjection(time.Hour, time.Hour),
		lbclient.WithProbe(100*time.Millisecond, counted))) // a probe may take its whole interval: 10 ms failed under load
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ec := echo.NewEchoClient(client)

	// One Unavailable ejects the backend for an hour; its health service says SERVING, so the
	// next probe brings it back.
	impl.failing.Store(true)
	if _, err := ec.Say(ctxT(t), &echo.SayRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v, want Unavailable", err)
	}
	impl.failing.Store(false)
	waitProbes()
	if st := client.BackendStats()[0]; st.Health != lbclient.Healthy || st.Ejections != 1 {
		t.Fatalf("after a SERVING probe: %+v, want healthy after 1 ejection", st)
	}
	if _, err := ec.Say(ctxT(t), &echo.SayRequest{}); err != nil {
		t.Fatal(err)
	}

	// NOT_SERVING: the backend is down for the probe until it serves again.
	hs.SetServingStatus("", health.NotServing)
	waitProbes()
	if h := client.BackendStats()[0].Health; h != lbclient.ProbeDown {
		t.Fatalf("NOT_SERVING: %v, want probe-down", h)
	}
	hs.SetServingStatus("", health.Serving)
	waitProbes()
	if h := client.BackendStats()[0].Health; h != lbclient.Healthy {
		t.Fatalf("SERVING again: %v, want healthy", h)
	}
}

func TestProbeErrors(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0") // nothing serves it
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	lis.Close()
	if err := health.Probe("")(ctxT(t), dead); err == nil {
		t.Fatal("probe of a closed port succeeded")
	}
}
