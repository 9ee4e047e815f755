package iip

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

// BenchmarkLargeEcho echoes 1, 16 and 64 MiB messages over loopback, from
// one channel of our client, to the deployed-server model (16 KiB socket
// buffers, 3 s frame deadline) and to our server, with the client's
// receive buffer at its default (deployedSocketReadBuffer toward deployed
// servers, the system's toward ours), at the system's (SocketReadBuffer
// -1: what the client did before it sized its sockets) and at 64 KiB.
//
//	cd iip && go test -run XXX -bench LargeEcho -benchtime 3x
func BenchmarkLargeEcho(b *testing.B) {
	ds := startDeployedServer(b)
	_, pocket := echoServer(b)
	peers := []struct{ name, addr string }{{"deployed", ds.Addr()}, {"pocket", pocket}}
	bufs := []struct {
		name string
		rcv  int
	}{{"rcvbuf=default", 0}, {"rcvbuf=system", -1}, {"rcvbuf=64KiB", 64 << 10}}
	for _, p := range peers {
		for _, rb := range bufs {
			for _, n := range []int{1 << 20, 16 << 20, 64 << 20} {
				if p.name == "deployed" && rb.rcv < 0 && n > 1<<20 {
					continue // misses the deployed peer's 3 s frame deadline: connection dropped
				}
				b.Run(fmt.Sprintf("%s/%s/%dMiB", p.name, rb.name, n>>20), func(b *testing.B) {
					conn := dialT(b, p.addr, WithConfig(Config{SocketReadBuffer: rb.rcv}))
					ch, err := conn.NewChannel(testCtx(b))
					if err != nil {
						b.Fatal(err)
					}
					data := pattern(n)
					b.SetBytes(int64(n))
					b.ResetTimer()
					for range b.N {
						got, err := ch.Do(context.Background(), "/echo", data)
						if err != nil || !bytes.Equal(got, data) {
							b.Fatalf("%d bytes back, err %v", len(got), err)
						}
					}
				})
			}
		}
	}
}
