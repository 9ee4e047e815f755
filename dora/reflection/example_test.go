package reflection_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/reflection"
)

func Example() {
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := dora.NewServer()
	echo.RegisterEchoServer(srv, echoServer{})
	reflection.Register(srv)
	go srv.Serve(lis)
	defer srv.Stop()

	client, _ := dora.NewClient(lis.Addr().String())
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc := reflection.NewReflectionClient(client)

	list, _ := rc.ListServices(ctx, &reflection.ListServicesRequest{})
	fmt.Println(list.Services)
	resp, _ := rc.FileContainingSymbol(ctx, &reflection.FileContainingSymbolRequest{Symbol: "dora.examples.echo.Echo"})
	fd := &descriptorpb.FileDescriptorProto{}
	proto.Unmarshal(resp.FileDescriptorProto[0], fd)
	for _, m := range fd.Service[0].Method {
		fmt.Printf("%s(%s) server streaming: %v\n", m.GetName(), m.GetInputType(), m.GetServerStreaming())
	}
	// Output:
	// [dora.examples.echo.Echo dora.reflection.v1.Reflection]
	// Say(.dora.examples.echo.SayRequest) server streaming: false
	// Count(.dora.examples.echo.CountRequest) server streaming: true
	// Collect(.dora.examples.echo.SayRequest) server streaming: false
	// Chat(.dora.examples.echo.SayRequest) server streaming: true
}
