package health

import (
	"context"
	"fmt"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/lbclient"
)

// Probe returns an active health check for a balanced dora client: each call dials addr with
// opts (give the same TLS options as the client's), calls dora.health.v1.Health/Check for
// service ("" is the whole server) within the probe's context, and closes the connection.
// SERVING is success; any other status or a failed call is an error, which marks the
// backend down until a later probe succeeds. A success also ends an ejection for failed
// calls at once (lbclient.WithProbe).
//
//	client, err := dora.NewClient("dns:///orders.internal:7000",
//		dora.WithBalancer(lbclient.WithProbe(5*time.Second, health.Probe(""))))
//
// Each probe opens a connection of its own (one per backend per interval), so that a server
// which accepts no new connections fails it; the servers must register a health Server.
func Probe(service string, opts ...dora.ClientOption) lbclient.ProbeFunc {
	return func(ctx context.Context, addr string) error {
		c, err := dora.NewClient(addr, opts...)
		if err != nil {
			return fmt.Errorf("health: probe %s: %w", addr, err)
		}
		defer c.Close()
		resp, err := NewHealthClient(c).Check(ctx, &HealthCheckRequest{Service: service})
		if err != nil {
			return fmt.Errorf("health: probe %s: %w", addr, err)
		}
		if resp.GetStatus() != Serving {
			return fmt.Errorf("health: probe %s: service %q is %v", addr, service, resp.GetStatus())
		}
		return nil
	}
}
