package main

import (
	"context"
	"crypto/tls"
	"log/slog"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	doraecho "github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/health"
	"github.com/seed857a6cbd/pocket/dora/reflection"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/examples/serving"
)

// maxCount bounds Count's range so one call cannot stream without end.
const maxCount = 10_000

// doraEcho implements dora's example echo service (dora/examples/echo): Say answers its
// request, Count streams From..To.
type doraEcho struct {
	doraecho.UnimplementedEchoServer
}

func (doraEcho) Say(_ context.Context, in *doraecho.SayRequest) (*doraecho.SayResponse, error) {
	return &doraecho.SayResponse{Text: in.Text, Blob: in.Blob}, nil
}

func (doraEcho) Count(in *doraecho.CountRequest, st dora.ServerStreamingServer[doraecho.CountResponse]) error {
	if in.To < in.From || int64(in.To)-int64(in.From) >= maxCount {
		return status.Errorf(codes.InvalidArgument, "echo: Count wants From <= To and at most %d numbers", maxCount)
	}
	for i := int64(in.From); i <= int64(in.To); i++ { // int64: To may be MaxInt32
		if err := st.Send(&doraecho.CountResponse{N: int32(i)}); err != nil {
			return err
		}
	}
	return nil
}

// doraServing adapts a dora server (and its health service) to serving.Server: shutdown
// says NOT_SERVING first, then stops gracefully.
type doraServing struct {
	*dora.Server
	health *health.Server
}

func (d doraServing) Shutdown(ctx context.Context) error {
	d.health.Shutdown()
	return d.GracefulStop(ctx)
}

// doraListener serves the dora echo service and the health service on addr (TLS with
// tlsConfig when set), and the reflection service when withReflection is set.
func doraListener(addr string, tlsConfig *tls.Config, withReflection bool, log *slog.Logger) serving.Listener {
	opts := []dora.ServerOption{dora.WithLogger(log)}
	if tlsConfig != nil {
		opts = append(opts, dora.WithTLS(tlsConfig))
	}
	srv := dora.NewServer(opts...)
	doraecho.RegisterEchoServer(srv, doraEcho{})
	hs := health.NewServer()
	health.RegisterHealthServer(srv, hs)
	hs.SetServingStatus(doraecho.Echo_ServiceDesc.ServiceName, health.Serving)
	if withReflection {
		reflection.Register(srv)
	}
	return serving.Listener{Name: "dora", Addr: addr, Server: doraServing{srv, hs}}
}
