package main

import (
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/health"
	"github.com/seed857a6cbd/pocket/dora/reflection"
)

// doractl against a server with the echo service, health and reflection: what
// `doractl list`, `describe`, `call` and `health` print.
func Example() {
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := dora.NewServer()
	echo.RegisterEchoServer(srv, echoServer{})
	health.RegisterHealthServer(srv, health.NewServer())
	reflection.Register(srv)
	go srv.Serve(lis)
	defer srv.Stop()
	addr := lis.Addr().String()

	doractl := func(args ...string) {
		if code := run(args, strings.NewReader(""), os.Stdout, os.Stdout); code != 0 {
			fmt.Println("exit status", code)
		}
	}
	doractl("list", addr)
	doractl("describe", addr, "dora.examples.echo.Echo")
	doractl("call", addr, "dora.examples.echo.Echo/Say", `{"text":"hi"}`)
	doractl("call", addr, "dora.examples.echo.Echo/Count", `{"from":1,"to":2}`)
	doractl("health", addr)
	doractl("health", addr, "no.Such")
	// Output:
	// dora.examples.echo.Echo
	// dora.health.v1.Health
	// dora.reflection.v1.Reflection
	// service dora.examples.echo.Echo { // echo.proto
	//   rpc Say(dora.examples.echo.SayRequest) returns (dora.examples.echo.SayResponse);
	//   rpc Count(dora.examples.echo.CountRequest) returns (stream dora.examples.echo.CountResponse);
	//   rpc Collect(stream dora.examples.echo.SayRequest) returns (dora.examples.echo.SayResponse);
	//   rpc Chat(stream dora.examples.echo.SayRequest) returns (stream dora.examples.echo.SayResponse);
	// }
	// {
	//   "text": "hi"
	// }
	// {"n":1}
	// {"n":2}
	// SERVING
	// doractl: status: NotFound: health: unknown service "no.Such"
	// exit status 69
}
