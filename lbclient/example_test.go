package lbclient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sort"
	"sync"

	"github.com/seed857a6cbd/pocket/lbclient"
)

// Client is the shared client the examples balance: one per echo server,
// safe for concurrent use. Any type with a Close method works; real ones
// (a dora or iip client) keep and multiplex connections.
type Client struct{ addr string }

func newClient(addr string) (*Client, error) { return &Client{addr: addr}, nil }

// Close has nothing to release: each call has its own connection.
func (c *Client) Close() error { return nil }

// Echo sends one byte and reads it back. A failed dial never reached the
// server: it is marked NotSent, so the balancer moves the call.
func (c *Client) Echo(ctx context.Context, b byte) (byte, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return 0, lbclient.NotSent(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte{b}); err != nil {
		return 0, err
	}
	var buf [1]byte
	_, err = io.ReadFull(conn, buf[:])
	return buf[0], err
}

// echoServers starts n loopback echo servers; stop closes them.
func echoServers(n int) (addrs []string, stop func()) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var closers []io.Closer
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		mu.Lock()
		closers = append(closers, ln)
		mu.Unlock()
		addrs = append(addrs, ln.Addr().String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				closers = append(closers, c)
				mu.Unlock()
				wg.Add(1)
				go func() { defer wg.Done(); io.Copy(c, c) }()
			}
		}()
	}
	return addrs, func() {
		mu.Lock()
		for _, c := range closers {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
}

// The shortest complete use: a target with weights, a client per backend, Do.
func Example() {
	addrs, stop := echoServers(2)
	defer stop()

	b, err := lbclient.New(addrs[0]+"#2,"+addrs[1]+"#1", newClient, lbclient.WithPicker(lbclient.PickRoundRobin))
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	for i := 0; i < 30; i++ {
		err := b.Do(context.Background(), "", func(ctx context.Context, c *Client) error {
			_, err := c.Echo(ctx, 'x')
			return err
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	for i, st := range b.Stats() {
		fmt.Printf("backend %d: weight %d, %d calls, %v\n", i, st.Weight, st.Successes, st.Health)
	}
	// Output:
	// backend 0: weight 2, 20 calls, healthy
	// backend 1: weight 1, 10 calls, healthy
}

func ExampleParseTarget() {
	eps, err := lbclient.ParseTarget("10.0.0.1:7000#2, 10.0.0.2:7000")
	fmt.Println(eps, err)

	_, err = lbclient.ParseTarget("10.0.0.1:7000#2,10.0.0.2")
	fmt.Println(err)
	fmt.Println(errors.Is(err, lbclient.ErrBadTarget))
	// Output:
	// [10.0.0.1:7000#2 10.0.0.2:7000#1] <nil>
	// lbclient: bad target: entry 2 "10.0.0.2": address "10.0.0.2" is not host:port
	// true
}

// Pick and Done split Do for callers that manage the call themselves (Pick
// does not move a call that never reached its backend; Do and Begin do).
func ExampleBalancer_Pick() {
	addrs, stop := echoServers(1)
	defer stop()
	b, err := lbclient.New(addrs[0], newClient)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	lease, err := b.Pick(context.Background(), "")
	if err != nil {
		log.Fatal(err)
	}
	got, err := lease.Conn.Echo(context.Background(), 'z')
	lease.Done(err) // exactly once, with the call's error
	fmt.Printf("%c %v\n", got, err)
	// Output: z <nil>
}

// A Static resolver changes the backends while the balancer runs; calls in
// flight on a removed backend finish before its client closes.
func ExampleStatic() {
	addrs, stop := echoServers(3)
	defer stop()
	st, err := lbclient.NewStatic([]lbclient.Endpoint{{Addr: addrs[0], Weight: 1}})
	if err != nil {
		log.Fatal(err)
	}
	updated := make(chan []lbclient.Endpoint, 1)
	b, err := lbclient.NewWithResolver(st, newClient, lbclient.WithOnUpdate(func(eps []lbclient.Endpoint) { updated <- eps }))
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	fmt.Println(len(<-updated), "backend")

	if err := st.Set([]lbclient.Endpoint{{Addr: addrs[1], Weight: 3}, {Addr: addrs[2], Weight: 1}}); err != nil {
		log.Fatal(err)
	}
	eps := <-updated
	fmt.Println(len(eps), "backends, weights", eps[0].Weight, eps[1].Weight)
	// Output:
	// 1 backend
	// 2 backends, weights 3 1
}

// PickHash keeps each key on one backend (while it is healthy).
func ExampleWithPicker_hash() {
	addrs, stop := echoServers(3)
	defer stop()
	b, err := lbclient.New(addrs[0]+","+addrs[1]+","+addrs[2], newClient, lbclient.WithPicker(lbclient.PickHash))
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	seen := map[string]map[string]bool{} // key -> backends
	for i := 0; i < 60; i++ {
		key := fmt.Sprintf("client-%d", i%6)
		err := b.Do(context.Background(), key, func(ctx context.Context, c *Client) error {
			if seen[key] == nil {
				seen[key] = map[string]bool{}
			}
			seen[key][c.addr] = true
			_, err := c.Echo(ctx, 'k')
			return err
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Println(k, "used", len(seen[k]), "backend")
	}
	// Output:
	// client-0 used 1 backend
	// client-1 used 1 backend
	// client-2 used 1 backend
	// client-3 used 1 backend
	// client-4 used 1 backend
	// client-5 used 1 backend
}
