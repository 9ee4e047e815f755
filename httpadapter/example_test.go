package httpadapter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/httpadapter"
	"github.com/seed857a6cbd/pocket/iip"
)

// Put HTTP in front of an IIP server: every request goes to it, the HTTP method and headers
// travel in __http_hdr__.
func Example() {
	// An IIP server (usually somewhere else).
	backend, err := iip.NewServer()
	if err != nil {
		panic(err)
	}
	backend.HandleFunc("/hello", func(_ context.Context, r *iip.Request) ([]byte, error) {
		method, h, err := httpadapter.DecodeHeader(r.Query)
		if err != nil {
			return nil, err
		}
		return []byte(fmt.Sprintf(`{"method":%q,"agent":%q,"name":%q}`, method, h.Get("User-Agent"), r.Query.Get("name"))), nil
	})
	iipLis, _ := net.Listen("tcp", "127.0.0.1:0")
	go backend.Serve(iipLis)
	defer backend.Close()

	// The adapter: a balanced IIP client ("a:9090#2,b:9090", "dns:///..." for many servers)
	// and one catch-all route.
	backends, err := iip.NewLoadBalanceClient(iipLis.Addr().String())
	if err != nil {
		panic(err)
	}
	defer backends.Close()
	srv, err := httpadapter.NewServer(
		httpadapter.WithIIPRoute(httpadapter.Route{Backend: backends}),
		httpadapter.WithAccessLog(false),
	)
	if err != nil {
		panic(err)
	}
	httpLis, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(httpLis)
	defer srv.Shutdown(context.Background())

	req, _ := http.NewRequest(http.MethodGet, "http://"+httpLis.Addr().String()+"/hello?name=ann", nil)
	req.Header.Set("User-Agent", "example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"))
	fmt.Println(string(body))

	resp, err = http.Get("http://" + httpLis.Addr().String() + "/missing")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ = io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output:
	// 200 application/json
	// {"method":"GET","agent":"example","name":"ann"}
	// 404 {"error":{"code":"not_found","message":"no handler for path /missing","iip_code":105}}
}

type sayServer struct{ echo.UnimplementedEchoServer }

func (sayServer) Say(_ context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
	return &echo.SayResponse{Text: strings.ToUpper(in.Text)}, nil
}

// Call a dora method with HTTP/JSON: no generated code is needed on the adapter's side,
// only the service's descriptors (here linked in by importing the echo package).
func ExampleWithDora() {
	backend := dora.NewServer(dora.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	echo.RegisterEchoServer(backend, sayServer{})
	doraLis, _ := net.Listen("tcp", "127.0.0.1:0")
	go backend.Serve(doraLis)
	defer backend.Stop()

	client, _ := dora.NewClient(doraLis.Addr().String())
	defer client.Close()
	srv, err := httpadapter.NewServer(httpadapter.WithDora(client), httpadapter.WithAccessLog(false),
		httpadapter.WithCallTimeout(5*time.Second))
	if err != nil {
		panic(err)
	}
	httpLis, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(httpLis)
	defer srv.Shutdown(context.Background())

	resp, err := http.Post("http://"+httpLis.Addr().String()+"/dora.examples.echo.Echo/Say",
		"application/json", strings.NewReader(`{"text":"hi"}`))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var out struct{ Text string }
	err = json.NewDecoder(resp.Body).Decode(&out) // protojson's spacing varies: decode, don't compare bytes
	fmt.Println(resp.StatusCode, out.Text, err)
	// Output:
	// 200 HI <nil>
}
