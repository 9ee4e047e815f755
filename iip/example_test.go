package iip_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/seed857a6cbd/pocket/iip"
	"github.com/seed857a6cbd/pocket/lbclient"
)

// startExampleServer serves an upper-casing /upper on a loopback port.
func startExampleServer() (*iip.Server, string) {
	srv, err := iip.NewServer(iip.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		panic(err)
	}
	srv.HandleFunc("/upper", func(ctx context.Context, r *iip.Request) ([]byte, error) {
		return []byte(strings.ToUpper(string(r.Data)) + r.Query.Get("suffix")), nil
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(l)
	return srv, l.Addr().String()
}

// A server and a pooled client in a few lines.
func Example() {
	srv, addr := startExampleServer()
	defer srv.Close()

	client, err := iip.NewClient(context.Background(), addr)
	if err != nil {
		panic(err)
	}
	defer client.Close()
	resp, err := client.Do(context.Background(), "/upper?suffix=!", []byte("hello"))
	fmt.Println(string(resp), err)
	// Output: HELLO! <nil>
}

// One connection, one channel, requests answered in order.
func ExampleConn_NewChannel() {
	srv, addr := startExampleServer()
	defer srv.Close()

	conn, err := iip.Dial(context.Background(), addr)
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	ch, err := conn.NewChannel(context.Background())
	if err != nil {
		panic(err)
	}
	for _, word := range []string{"a", "b"} {
		resp, err := ch.Do(context.Background(), "/upper", []byte(word))
		fmt.Println(ch.ID(), string(resp), err)
	}
	// Output:
	// 1 A <nil>
	// 1 B <nil>
}

// Error responses come back as typed errors.
func ExampleError() {
	srv, addr := startExampleServer()
	defer srv.Close()

	conn, err := iip.Dial(context.Background(), addr)
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	_, err = conn.Do(context.Background(), "/missing", nil)
	var e *iip.Error
	fmt.Println(errors.Is(err, iip.ErrNoHandler), errors.As(err, &e) && e.Code == iip.CodeNoHandler)
	// Output: true true
}

// A streaming handler sees a large request frame by frame.
func ExampleServer_HandleStream() {
	srv, addr := startExampleServer()
	defer srv.Close()
	srv.HandleStream("/size", func(ctx context.Context, r *iip.StreamRequest) ([]byte, error) {
		total := 0
		for {
			chunk, err := r.Next(ctx)
			if err == io.EOF {
				return []byte(fmt.Sprint(total)), nil
			}
			if err != nil {
				return nil, err
			}
			total += len(chunk)
		}
	})
	conn, err := iip.Dial(context.Background(), addr)
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	resp, err := conn.Do(context.Background(), "/size", make([]byte, 1000))
	fmt.Println(string(resp), err)
	// Output: 1000 <nil>
}

// startNamedServer serves /who, answering name, on a loopback port.
func startNamedServer(name string) (*iip.Server, string) {
	srv, err := iip.NewServer(iip.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		panic(err)
	}
	srv.HandleFunc("/who", func(ctx context.Context, r *iip.Request) ([]byte, error) {
		return []byte(name), nil
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(l)
	return srv, l.Addr().String()
}

// A balanced client over two servers weighted 2 and 1, with smooth
// weighted round robin; application errors come back typed and leave the
// servers' health alone.
func ExampleNewLoadBalanceClient() {
	a, addrA := startNamedServer("a")
	defer a.Close()
	b, addrB := startNamedServer("b")
	defer b.Close()

	lb, err := iip.NewLoadBalanceClient(addrA+"#2,"+addrB+"#1", iip.WithPicker(lbclient.PickRoundRobin))
	if err != nil {
		panic(err) // a malformed entry is named here
	}
	defer lb.Close()
	ctx := context.Background()
	var got []string
	for range 6 {
		resp, err := lb.Do(ctx, "/who", nil)
		if err != nil {
			panic(err)
		}
		got = append(got, string(resp))
	}
	fmt.Println(strings.Join(got, " "))
	_, err = lb.Do(ctx, "/missing", nil)
	fmt.Println(errors.Is(err, iip.ErrNoHandler), iip.IsBackendFailure(err))
	// Output:
	// a b a a b a
	// true false
}

// Consistent hashing: every call with the same uid query parameter, or the
// same WithHashKey key (a client IP), goes to the same server.
func ExampleWithHashKey() {
	a, addrA := startNamedServer("a")
	defer a.Close()
	b, addrB := startNamedServer("b")
	defer b.Close()

	lb, err := iip.NewLoadBalanceClient(addrA+","+addrB, iip.WithPicker(lbclient.PickHash), iip.WithHashQueryParam("uid"))
	if err != nil {
		panic(err)
	}
	defer lb.Close()
	ctx := context.Background()
	first, _ := lb.Do(ctx, "/who?uid=42", nil)
	again, _ := lb.Do(ctx, "/who?uid=42&page=2", nil)
	ipCtx := iip.WithHashKey(ctx, "192.0.2.7")
	ip1, _ := lb.Do(ipCtx, "/who?uid=1", nil)
	ip2, _ := lb.Do(ipCtx, "/who?uid=2", nil)
	fmt.Println(string(first) == string(again), string(ip1) == string(ip2))
	// Output: true true
}

// Memory reuse on both ends: the server recycles request data once the
// response is written (its handler returns Data itself, or a slice of it,
// and keeps nothing), and the caller appends each response to its own
// buffer. In steady state no call allocates.
func ExampleClient_DoAppend() {
	srv, err := iip.NewServer(iip.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), iip.WithRecycleRequestData())
	if err != nil {
		panic(err)
	}
	srv.HandleFunc("/echo", func(ctx context.Context, r *iip.Request) ([]byte, error) {
		return r.Data, nil
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(l)
	defer srv.Close()

	client, err := iip.NewClient(context.Background(), l.Addr().String())
	if err != nil {
		panic(err)
	}
	defer client.Close()
	var buf []byte
	for _, word := range []string{"one", "two"} {
		buf, err = client.DoAppend(context.Background(), "/echo", []byte(word), buf[:0])
		fmt.Println(string(buf), err)
	}
	// Output:
	// one <nil>
	// two <nil>
}

// A large response streamed piece by piece: the server writes it as it
// produces it, the client reads it chunk by chunk.
func ExampleServer_HandleStreamResponse() {
	srv, addr := startExampleServer()
	defer srv.Close()
	srv.HandleStreamResponse("/count", func(ctx context.Context, r *iip.Request, w *iip.StreamWriter) error {
		for i := range 3 {
			if _, err := fmt.Fprintf(w, "line %d\n", i); err != nil {
				return err // the connection broke
			}
		}
		return nil
	})

	client, err := iip.NewClient(context.Background(), addr)
	if err != nil {
		panic(err)
	}
	defer client.Close()
	st, err := client.DoStream(context.Background(), "/count", nil)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	for {
		chunk, err := st.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			panic(err)
		}
		fmt.Print(string(chunk))
	}
	// Output:
	// line 0
	// line 1
	// line 2
}

// Options: a Config means the same to both sides (WithConfig), as do
// WithTLS, WithLogger and WithControl; the rest are a client's or a
// server's own (a server's Limits and Timeouts, zero fields meaning their
// defaults). Nothing is clamped: a server taking messages larger than
// its request budget holds is an error that says what to set.
func ExampleNewServer() {
	cfg := iip.Config{MaxMessageSize: 100 << 20, FrameSize: 64 << 10}
	quiet := iip.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))

	_, err := iip.NewServer(iip.WithConfig(cfg), quiet)
	fmt.Println(errors.Is(err, iip.ErrInvalidConfig))

	perConn := cfg.MaxMessageSize + iip.MaxFrameData
	srv, err := iip.NewServer(iip.WithConfig(cfg), quiet,
		iip.WithLimits(iip.Limits{MaxConns: 100, MaxConnBufferedBytes: perConn, MaxBufferedBytes: 2 * perConn}),
		iip.WithTimeouts(iip.Timeouts{Idle: time.Minute, Handler: 10 * time.Second}))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	srv.HandleFunc("/len", func(ctx context.Context, r *iip.Request) ([]byte, error) {
		return []byte(fmt.Sprint(len(r.Data))), nil
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(l)

	client, err := iip.NewClient(context.Background(), l.Addr().String(), iip.WithConfig(cfg), quiet, iip.WithPool(1, 4))
	if err != nil {
		panic(err)
	}
	defer client.Close()
	resp, err := client.Do(context.Background(), "/len", make([]byte, 1<<20))
	fmt.Println(string(resp), err)
	// Output:
	// true
	// 1048576 <nil>
}
