// Package health is dora's health service, dora.health.v1.Health: grpc's health checking
// protocol (same messages, same semantics) for load balancers, Kubernetes probes and
// `doractl health`.
//
// Register a Server next to the services it reports on and set their status as they come
// and go:
//
//	srv := dora.NewServer()
//	hs := health.NewServer() // "" (the whole server) is SERVING
//	health.RegisterHealthServer(srv, hs)
//	hs.SetServingStatus("dora.examples.echo.Echo", health.HealthCheckResponse_SERVING)
//	...
//	hs.Shutdown() // every service NOT_SERVING, watchers told, before srv.GracefulStop
//
// Check answers the current status of a service, or fails with NotFound for a service never
// set. Watch sends the current status at once (SERVICE_UNKNOWN for a service never set) and
// then each change; a watcher that falls behind gets only the latest status (each watcher
// holds at most one pending status, never a queue). At most MaxWatchers (default
// DefaultMaxWatchers) Watch calls run at once; more fail with ResourceExhausted. A service
// name longer than MaxServiceName (1024 bytes) fails with InvalidArgument.
//
// Probe is the client side for load balancing: an lbclient probe that calls Check on each
// backend of a balanced dora client, so that a NOT_SERVING server gets no calls and an
// ejected one that says SERVING is back at once:
//
//	dora.NewClient(target, dora.WithBalancer(lbclient.WithProbe(5*time.Second, health.Probe(""))))
//
// One difference from grpc-go's health server, so that dora's GracefulStop is not held by
// long-lived Watch calls: Shutdown sends NOT_SERVING to every watcher and then ends its
// call with Unavailable, and a Watch started while the server is shut down sends
// NOT_SERVING and ends the same way. After Resume, Watch stays open as usual.
package health
