package lbclient

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// nopConn is an in-memory connection: benchmarks of the balancer itself.
type nopConn struct{}

func (nopConn) Close() error { return nil }

func dialNop(string) (nopConn, error) { return nopConn{}, nil }

func nopCall(context.Context, nopConn) error { return nil }

func benchTarget(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("127.0.0.1:%d#%d", 7000+i, 1+i%5)
	}
	return strings.Join(parts, ",")
}

var benchKeys = func() []string {
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "user-" + strconv.Itoa(i)
	}
	return keys
}()

// BenchmarkPick measures choosing a backend (and counting it pending) over 10 weighted backends.
func BenchmarkPick(b *testing.B) {
	for _, p := range []Picker{PickLeastPending, PickRoundRobin, PickRandom, PickHash} {
		bal, err := New(benchTarget(10), dialNop, WithPicker(p), WithLogger(quiet))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(p.String(), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				l, err := bal.pick(benchKeys[i&1023], nil)
				if err != nil {
					b.Fatal(err)
				}
				l.be.release()
			}
		})
		b.Run(p.String()+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					l, err := bal.pick(benchKeys[i&1023], nil)
					if err != nil {
						b.Error(err)
						return
					}
					l.be.release()
					i++
				}
			})
		})
		bal.Close()
	}
}

// BenchmarkDo measures the whole Do path (pick, call, record) with an in-memory connection, so only the balancer's cost shows.
func BenchmarkDo(b *testing.B) {
	for _, p := range []Picker{PickLeastPending, PickRoundRobin} {
		bal, err := New(benchTarget(10), dialNop, WithPicker(p), WithLogger(quiet))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(p.String(), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := bal.Do(context.Background(), "", nopCall); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(p.String()+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := bal.Do(context.Background(), "", nopCall); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		bal.Close()
	}
}

// BenchmarkDoLoopback is a full call over loopback TCP to three echo servers:
// a reference showing the balancer's share of a real round trip.
func BenchmarkDoLoopback(b *testing.B) {
	servers := make([]*echoServer, 3)
	for i := range servers {
		servers[i] = startEcho(b)
	}
	bal, err := New(targetOf(servers, []int{1, 1, 1}), dialEcho, WithLogger(quiet))
	if err != nil {
		b.Fatal(err)
	}
	defer bal.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := bal.Do(context.Background(), "", echoCall); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
