package main

import (
	"context"
	"log/slog"
	"sort"
	"time"

	"github.com/seed857a6cbd/pocket/dora/health"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

// healthInterval is how often serve pings the stores for the health service.
const healthInterval = 5 * time.Second

// pingStores pings every store of checks in name order, all within one readyTimeout, and
// returns the names and the failures ("name: error"). /readyz and the health service
// share it.
func pingStores(ctx context.Context, checks map[string]domain.Pinger) (names, failed []string) {
	names = make([]string, 0, len(checks))
	for n := range checks {
		names = append(names, n)
	}
	sort.Strings(names)
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for _, n := range names {
		if err := checks[n].Ping(ctx); err != nil {
			failed = append(failed, n+": "+err.Error())
		}
	}
	return names, failed
}

// storeHealth keeps hs's statuses, for the whole server ("") and for kv.Store, at SERVING
// while every store answers a ping and at NOT_SERVING while one does not.
type storeHealth struct {
	hs      *health.Server
	checks  map[string]domain.Pinger
	log     *slog.Logger
	serving bool
	known   bool
}

// probe pings the stores once and sets the statuses; it logs a change of status.
func (h *storeHealth) probe(ctx context.Context) {
	_, failed := pingStores(ctx, h.checks)
	serving := len(failed) == 0
	st := health.HealthCheckResponse_NOT_SERVING
	if serving {
		st = health.HealthCheckResponse_SERVING
	}
	h.hs.SetServingStatus("", st)
	h.hs.SetServingStatus(kvpb.Store_ServiceDesc.ServiceName, st)
	if h.known && serving == h.serving {
		return
	}
	h.known, h.serving = true, serving
	if serving {
		h.log.Info("health: SERVING")
	} else {
		h.log.Warn("health: NOT_SERVING", "failed", failed)
	}
}

// watch probes every interval until ctx ends; the returned function stops it and waits.
func (h *storeHealth) watch(ctx context.Context, interval time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				h.probe(ctx)
			}
		}
	}()
	return func() { cancel(); <-done }
}
