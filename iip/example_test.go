package iip_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/seed857a6cbd/pocket/iip"
)

// startExampleServer serves an upper-casing /upper on a loopback port.
func startExampleServer() (*iip.Server, string) {
	srv := iip.NewServer(&iip.ServerOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
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

	client, err := iip.NewClient(addr, nil)
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

	conn, err := iip.Dial(context.Background(), addr, nil)
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

	conn, err := iip.Dial(context.Background(), addr, nil)
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
	conn, err := iip.Dial(context.Background(), addr, nil)
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	resp, err := conn.Do(context.Background(), "/size", make([]byte, 1000))
	fmt.Println(string(resp), err)
	// Output: 1000 <nil>
}
