package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/health"
	"github.com/seed857a6cbd/pocket/dora/reflection"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/config"
)

// pinger is a store whose Ping answers err.
type pinger struct{ err error }

func (p *pinger) Ping(context.Context) error { return p.err }

func TestStoreHealthProbe(t *testing.T) {
	mysql, redis := &pinger{}, &pinger{}
	h := &storeHealth{hs: health.NewServer(), checks: map[string]domain.Pinger{"mysql": mysql, "redis": redis},
		log: slog.New(slog.DiscardHandler)}
	status := func(service string) health.HealthCheckResponse_ServingStatus {
		t.Helper()
		r, err := h.hs.Check(context.Background(), &health.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("Check(%q): %v", service, err)
		}
		return r.GetStatus()
	}
	for _, step := range []struct {
		name     string
		redisErr error
		want     health.HealthCheckResponse_ServingStatus
	}{
		{"every store answers", nil, health.HealthCheckResponse_SERVING},
		{"redis down", errors.New("connection refused"), health.HealthCheckResponse_NOT_SERVING},
		{"redis back", nil, health.HealthCheckResponse_SERVING},
	} {
		redis.err = step.redisErr
		h.probe(context.Background())
		for _, svc := range []string{"", "kv.Store"} {
			if got := status(svc); got != step.want {
				t.Errorf("%s: %q is %v, want %v", step.name, svc, got, step.want)
			}
		}
	}
}

// checkServing asserts that the health service of the server at addr says SERVING for the
// whole server and for kv.Store.
func checkServing(t *testing.T, addr string) {
	t.Helper()
	c, err := dora.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, svc := range []string{"", "kv.Store"} {
		r, err := health.NewHealthClient(c).Check(ctx, &health.HealthCheckRequest{Service: svc})
		if err != nil || r.GetStatus() != health.HealthCheckResponse_SERVING {
			t.Fatalf("health Check(%q) = %v, %v; want SERVING", svc, r.GetStatus(), err)
		}
	}
}

// TestServeHealthAndReflection: with reflection on, serve lists its services through
// dora.reflection.v1 without a session, and a health Watch sees NOT_SERVING when the
// server starts shutting down.
func TestServeHealthAndReflection(t *testing.T) {
	cfg, err := config.Load(config.Sources{Flags: map[string]any{"data_dir": t.TempDir(), "reflection": true}})
	if err != nil {
		t.Fatal(err)
	}
	addr, _, stop := startServe(t, cfg)
	c, err := dora.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ls, err := reflection.NewReflectionClient(c).ListServices(ctx, &reflection.ListServicesRequest{})
	if err != nil {
		t.Fatalf("ListServices: %v", err)
	}
	for _, want := range []string{"kv.Store", "dora.health.v1.Health", "dora.reflection.v1.Reflection"} {
		if !slices.Contains(ls.GetServices(), want) {
			t.Errorf("ListServices = %v, want %s among them", ls.GetServices(), want)
		}
	}
	w, err := health.NewHealthClient(c).Watch(ctx, &health.HealthCheckRequest{Service: "kv.Store"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := w.Recv(); err != nil || r.GetStatus() != health.HealthCheckResponse_SERVING {
		t.Fatalf("first Watch answer: %v, %v; want SERVING", r.GetStatus(), err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	if r, err := w.Recv(); err != nil || r.GetStatus() != health.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Watch answer once shutting down: %v, %v; want NOT_SERVING", r.GetStatus(), err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("serve returned %v", err)
	}
}

// TestServeCallWorkers: with call_workers the RPC server reuses idle call goroutines
// (dora.IdleCallWorkers): calls from more callers than idle workers all succeed, and the
// workers exit when serve returns (the package's goleak check).
func TestServeCallWorkers(t *testing.T) {
	cfg, err := config.Load(config.Sources{Flags: map[string]any{"data_dir": t.TempDir(), "call_workers": 2}})
	if err != nil {
		t.Fatal(err)
	}
	addr, _, stop := startServe(t, cfg)
	c, err := dora.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hc := health.NewHealthClient(c)
	const callers, calls = 4, 25
	errs := make(chan error, callers)
	for range callers {
		go func() {
			for range calls {
				r, err := hc.Check(ctx, &health.HealthCheckRequest{Service: "kv.Store"})
				if err == nil && r.GetStatus() != health.HealthCheckResponse_SERVING {
					err = fmt.Errorf("status %v, want SERVING", r.GetStatus())
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Fatalf("Check: %v", err)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v", err)
	}
}
