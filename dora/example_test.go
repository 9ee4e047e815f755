package dora_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/lbclient"
)

// greeter implements the generated echo.EchoServer interface; the embedded
// UnimplementedEchoServer answers the methods it does not define.
type greeter struct {
	echo.UnimplementedEchoServer
}

func (greeter) Say(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
	if in.Text == "" {
		return nil, status.Error(codes.InvalidArgument, "text is required")
	}
	user := metadata.ValueFromIncomingContext(ctx, "username")
	return &echo.SayResponse{Text: "hello " + in.Text + " from " + user}, nil
}

func (greeter) Count(in *echo.CountRequest, stream dora.ServerStreamingServer[echo.CountResponse]) error {
	for i := in.From; i <= in.To; i++ {
		if err := stream.Send(&echo.CountResponse{N: i}); err != nil {
			return err
		}
	}
	return nil
}

// serve starts a server with the greeter on a loopback port; stop shuts it down.
func serve() (addr string, stop func()) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := dora.NewServer()
	echo.RegisterEchoServer(srv, greeter{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(lis); err != nil {
			log.Print(err)
		}
	}()
	return lis.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.GracefulStop(ctx)
		<-done
	}
}

// A server and a client of the generated echo service, with metadata and a status error.
func Example() {
	addr, stop := serve()
	defer stop()

	client, err := dora.NewClient(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ec := echo.NewEchoClient(client)

	ctx := metadata.AppendToOutgoingContext(context.Background(), "username", "ann")
	resp, err := ec.Say(ctx, &echo.SayRequest{Text: "world"}, dora.Timeout(time.Second))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Text)

	_, err = ec.Say(ctx, &echo.SayRequest{})
	fmt.Println(status.Code(err), status.Convert(err).Message())
	// Output:
	// hello world from ann
	// InvalidArgument text is required
}

// A server-streaming call: Recv until io.EOF.
func Example_streaming() {
	addr, stop := serve()
	defer stop()
	client, err := dora.NewClient(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	stream, err := echo.NewEchoClient(client).Count(context.Background(), &echo.CountRequest{From: 1, To: 3})
	if err != nil {
		log.Fatal(err)
	}
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(m.N, " ")
	}
	fmt.Println()
	// Output: 1 2 3
}

// Invoke calls a method by name, here with the JSON codec; any proto.Message works,
// dynamicpb messages included.
func ExampleClient_Invoke() {
	addr, stop := serve()
	defer stop()
	client, err := dora.NewClient(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	resp := new(echo.SayResponse)
	err = client.Invoke(context.Background(), "/dora.examples.echo.Echo/Say",
		&echo.SayRequest{Text: "json"}, resp, dora.Codec("json"))
	fmt.Println(resp.Text, err)
	// Output: hello json from  <nil>
}

// A unary interceptor logging each call's method and status code.
func ExampleChainUnaryInterceptor() {
	logCalls := func(ctx context.Context, req any, info *dora.UnaryServerInfo, next dora.UnaryHandler) (any, error) {
		resp, err := next(ctx, req)
		fmt.Println(info.FullMethod, status.Code(err))
		return resp, err
	}
	srv := dora.NewServer(dora.ChainUnaryInterceptor(logCalls))
	echo.RegisterEchoServer(srv, greeter{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(lis) }()
	defer func() { srv.Stop(); <-done }()

	client, err := dora.NewClient(lis.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	echo.NewEchoClient(client).Say(context.Background(), &echo.SayRequest{Text: "x"})
	// Output: /dora.examples.echo.Echo/Say OK
}

// callCounter is a StatsHandler counting finished calls by method and code; a Prometheus
// CounterVec or an OpenTelemetry span plugs in the same way.
type callCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *callCounter) CallBegin(ctx context.Context, info *dora.CallInfo) context.Context { return ctx }

func (c *callCounter) CallEnd(ctx context.Context, s *dora.CallStats) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[s.FullMethod+" "+s.Code.String()]++
}

// Stats hooks see every call's method, status code, duration and bytes.
func ExampleWithStats() {
	counter := &callCounter{counts: map[string]int{}}
	srv := dora.NewServer(dora.WithStats(counter))
	echo.RegisterEchoServer(srv, greeter{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(lis) }()

	client, err := dora.NewClient(lis.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	ec := echo.NewEchoClient(client)
	ec.Say(context.Background(), &echo.SayRequest{Text: "a"})
	ec.Say(context.Background(), &echo.SayRequest{})
	client.Close()
	srv.Stop() // waits for the calls, so the counts are final
	<-done

	counter.mu.Lock()
	defer counter.mu.Unlock()
	fmt.Println(counter.counts["/dora.examples.echo.Echo/Say OK"], counter.counts["/dora.examples.echo.Echo/Say InvalidArgument"])
	// Output: 1 1
}

// namedServer answers Say with its name, to show which server a call reached.
type namedServer struct {
	echo.UnimplementedEchoServer
	name string
}

func (n namedServer) Say(context.Context, *echo.SayRequest) (*echo.SayResponse, error) {
	return &echo.SayResponse{Text: n.name}, nil
}

// A balanced client: one Client over two servers, weights 2 and 1, smooth weighted round
// robin. Generated clients use it unchanged.
func ExampleNewClient_balanced() {
	var addrs []string
	for _, name := range []string{"a", "b"} {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		srv := dora.NewServer()
		echo.RegisterEchoServer(srv, namedServer{name: name})
		done := make(chan struct{})
		go func() { defer close(done); srv.Serve(lis) }()
		defer func() { srv.Stop(); <-done }()
		addrs = append(addrs, lis.Addr().String())
	}

	client, err := dora.NewClient("lb:///"+addrs[0]+"#2,"+addrs[1]+"#1", dora.WithPicker(lbclient.PickRoundRobin))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ec := echo.NewEchoClient(client)
	var answered []string
	for i := 0; i < 9; i++ {
		resp, err := ec.Say(context.Background(), &echo.SayRequest{})
		if err != nil {
			log.Fatal(err)
		}
		if !slices.Contains(answered, resp.Text) {
			answered = append(answered, resp.Text)
		}
	}
	slices.Sort(answered)
	fmt.Println("answered by", answered)
	for _, s := range client.BackendStats() {
		fmt.Println("weight", s.Weight, s.Health)
	}

	_, err = dora.NewClient("lb:///" + addrs[0] + ",127.0.0.1")
	fmt.Println(err)
	// Output:
	// answered by [a b]
	// weight 2 healthy
	// weight 1 healthy
	// dora: NewClient: lbclient: bad target: entry 2 "127.0.0.1": address "127.0.0.1" is not host:port
}

// A call compressed both ways: the request because it is over the client's threshold (1
// KiB), the response because the client said it accepts gzip and the answer is over the
// server's threshold. Servers need no option; clients that do not ask get plain answers.
func ExampleUseCompressor() {
	addr, stop := serve()
	defer stop()
	client, err := dora.NewClient(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	text := strings.Repeat("very compressible ", 1000)
	resp, err := echo.NewEchoClient(client).Say(context.Background(), &echo.SayRequest{Text: text},
		dora.UseCompressor(dora.Gzip), dora.Timeout(time.Second))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(resp.Text) > len(text))
	// Output: true
}

// blobEcho returns a request's blob. It reads in.Blob during the call and keeps nothing
// of it afterwards, which AliasRequests requires; returning it is allowed.
type blobEcho struct {
	echo.UnimplementedEchoServer
}

func (blobEcho) Say(_ context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
	return &echo.SayResponse{Text: fmt.Sprintf("%d bytes", len(in.Blob)), Blob: in.Blob}, nil
}

// Large bytes fields decoded in place on both sides: the server's requests and the
// client's responses refer to the buffers they arrived in instead of copies, and each
// buffer goes back to nap's pool for the next message: the server's once the call is over,
// the client's when it releases the lease.
func ExampleLeaseReply() {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := dora.NewServer(dora.AliasRequests(true), dora.SendInPlace(true))
	echo.RegisterEchoServer(srv, blobEcho{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	defer func() {
		srv.Stop()
		<-served
	}()

	client, err := dora.NewClient(lis.Addr().String(), dora.SendInPlace(true))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ec := echo.NewEchoClient(client)
	blob := make([]byte, 1<<20)
	var lease dora.Lease
	for range 3 {
		resp, err := ec.Say(context.Background(), &echo.SayRequest{Blob: blob}, dora.LeaseReply(&lease))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(resp.Text, len(resp.Blob), lease.Holds())
		lease.Release() // resp.Blob must not be used from here on
	}
	// Output:
	// 1048576 bytes 1048576 true
	// 1048576 bytes 1048576 true
	// 1048576 bytes 1048576 true
}

// Several values per key, a -bin key carrying bytes, and a unary call's header and trailer
// read apart.
func ExampleHeader() {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := dora.NewServer(dora.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *dora.UnaryServerInfo, next dora.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		_ = dora.SetHeader(ctx, metadata.Pairs("x-seen", strings.Join(md.Values("x-tag"), "+"), "x-seen", "twice"))
		_ = dora.SetTrailer(ctx, metadata.Pairs("sig-bin", "\x00\xff"))
		return next(ctx, req)
	}))
	echo.RegisterEchoServer(srv, greeter{})
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	defer func() { srv.Stop(); <-done }()

	client, err := dora.NewClient(lis.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-tag", "a", "x-tag", "b")
	var hdr, trl metadata.MD
	_, err = echo.NewEchoClient(client).Say(ctx, &echo.SayRequest{Text: "hi"}, dora.Header(&hdr), dora.Trailer(&trl))
	fmt.Println(err, hdr.Values("x-seen"), []byte(trl.Get("sig-bin")), trl.Get("x-seen") == "")
	// Output: <nil> [a+b twice] [0 255] true
}

// One WithTLS value configures both sides of a peer that serves and calls: cfg holds the
// peer's certificate (served, and presented as a client), the CA that verifies the other
// side's (RootCAs for servers, ClientCAs for clients), and ClientAuth for mutual TLS.
func ExampleWithTLS() {
	cert, err := tls.LoadX509KeyPair("peer.pem", "peer-key.pem")
	if err != nil {
		log.Fatal(err)
	}
	caPEM, err := os.ReadFile("ca.pem")
	if err != nil {
		log.Fatal(err)
	}
	ca := x509.NewCertPool()
	ca.AppendCertsFromPEM(caPEM)
	peer := dora.WithTLS(&tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      ca,
		ClientCAs:    ca,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	})

	srv := dora.NewServer(peer)
	echo.RegisterEchoServer(srv, greeter{})
	client, err := dora.NewClient("other-peer.internal:7000", peer)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	// go srv.Serve(lis); echo.NewEchoClient(client).Say(...)
}
