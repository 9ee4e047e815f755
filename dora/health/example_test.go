package health_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/health"
)

func Example() {
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := dora.NewServer()
	hs := health.NewServer()
	health.RegisterHealthServer(srv, hs)
	hs.SetServingStatus("dora.examples.echo.Echo", health.Serving)
	go srv.Serve(lis)

	client, _ := dora.NewClient(lis.Addr().String())
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hc := health.NewHealthClient(client)

	resp, err := hc.Check(ctx, &health.HealthCheckRequest{Service: "dora.examples.echo.Echo"})
	fmt.Println(resp.GetStatus(), err)

	watch, _ := hc.Watch(ctx, &health.HealthCheckRequest{}) // "" = the whole server
	first, _ := watch.Recv()
	fmt.Println("watch:", first.GetStatus())
	hs.Shutdown() // before GracefulStop: watchers see NOT_SERVING, then their calls end
	next, _ := watch.Recv()
	fmt.Println("watch:", next.GetStatus())
	_, err = watch.Recv()
	fmt.Println(err)
	srv.GracefulStop(ctx)
	// Output:
	// SERVING <nil>
	// watch: SERVING
	// watch: NOT_SERVING
	// status: Unavailable: health: server shutting down
}
