package iip

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// BenchmarkLargeEchoFrames echoes 1, 16 and 64 MiB between our client and
// our server with the negotiated 64 KiB frames (the default), 256 KiB and
// 1 MiB frames (Config.FrameSize; the server allows up to 16 MiB here),
// and 16 MiB frames (FrameSize -1, as before "frame-size"), so that the
// cost of smaller frames shows side by side.
//
//	cd iip && go test -run XXX -bench LargeEchoFrames -benchtime 3x
func BenchmarkLargeEchoFrames(b *testing.B) {
	_, addr := echoServer(b, WithConfig(Config{FrameSize: MaxFrameData}))
	for _, fs := range []struct {
		name   string
		size   int
		noHint bool
		window int
	}{
		{"frames=32KiB", 32 << 10, false, 0}, {"frames=32KiB,no-window", 32 << 10, false, -1}, {"frames=32KiB,no-window,no-size-hint", 32 << 10, true, -1},
		{"frames=64KiB", 64 << 10, false, 0}, {"frames=64KiB,no-window", 64 << 10, false, -1},
		{"frames=256KiB", 256 << 10, false, 0}, {"frames=1MiB", 1 << 20, false, 0},
		{"frames=16MiB", -1, false, 0}, {"frames=16MiB,no-size-hint", -1, true, 0},
	} {
		for _, n := range []int{1 << 20, 16 << 20, 64 << 20} {
			b.Run(fmt.Sprintf("%s/%dMiB", fs.name, n>>20), func(b *testing.B) {
				conn := dialT(b, addr, WithConfig(Config{FrameSize: fs.size, Window: fs.window}), withoutSizeHint(fs.noHint))
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

// BenchmarkDeployedClientEcho: the deployed-client model (16 KiB socket
// buffers, 3 s frame deadline, frames of at most 16 MiB) echoes 1, 16 and
// 64 MiB through our server with default options (which sizes such a
// client's connection, see Config.SocketReadBuffer).
//
//	cd iip && go test -run XXX -bench DeployedClientEcho -benchtime 3x
func BenchmarkDeployedClientEcho(b *testing.B) {
	_, addr := echoServer(b)
	for _, n := range []int{1 << 20, 16 << 20, 64 << 20} {
		b.Run(fmt.Sprintf("%dMiB", n>>20), func(b *testing.B) {
			lc := dialDeployedClient(b, addr)
			ch, err := lc.NewChannel()
			if err != nil {
				b.Fatal(err)
			}
			data := pattern(n)
			b.SetBytes(int64(n))
			b.ResetTimer()
			for range b.N {
				f, err := lc.Do(ch, "/echo", data)
				if err != nil || !bytes.Equal(f.Data, data) {
					b.Fatalf("%d bytes back, err %v", len(f.Data), err)
				}
			}
		})
	}
}

// BenchmarkSmallCallDuringBulk measures the latency of a small call (100
// bytes echoed by /small on its own channel) on an idle connection and on a
// connection that carries 64 MiB echoes back to back on another channel:
// with the defaults (32 KiB frames, a 64 KiB window), larger frames and
// windows, no window, no size hint, 16 MiB frames (FrameSize -1), and
// small socket buffers instead of a window. It reports p50 and p99 in
// microseconds and the bulk throughput meanwhile; the goal is a p99
// during the bulk transfer at most twice the idle p99.
//
//	cd iip && go test -run XXX -bench SmallCallDuringBulk -benchtime 2000x
func BenchmarkSmallCallDuringBulk(b *testing.B) {
	smallEcho := func(ctx context.Context, r *Request) ([]byte, error) { return r.Data, nil }
	s, addr := echoServer(b)
	s.HandleFunc("/small", smallEcho)
	// The same with smaller socket buffers on both sides: less of the bulk
	// transfer queued in the kernel ahead of a small frame.
	bufServer := func(n int) string {
		s, addr := echoServer(b, WithConfig(Config{SocketWriteBuffer: n, SocketReadBuffer: n}))
		s.HandleFunc("/small", smallEcho)
		return addr
	}
	addr256, addr128 := bufServer(256<<10), bufServer(128<<10)
	winServer := func(n int) string {
		s, addr := echoServer(b, WithConfig(Config{Window: n, FrameSize: 64 << 10}))
		s.HandleFunc("/small", smallEcho)
		return addr
	}
	addrNoWin, addrWin128, addrWin256 := winServer(-1), winServer(128<<10), winServer(256<<10)
	for _, fs := range []struct {
		name   string
		size   int
		buf    int
		addr   string
		noHint bool
		window int
	}{
		{"frames=32KiB,window=64KiB", 0, 0, addr, false, 0},
		{"frames=64KiB,window=128KiB", 64 << 10, 0, addrWin128, false, 128 << 10},
		{"frames=64KiB,window=256KiB", 64 << 10, 0, addrWin256, false, 256 << 10},
		{"frames=32KiB,no-window", 0, 0, addrNoWin, false, -1},
		{"frames=32KiB,no-window,no-size-hint", 0, 0, addrNoWin, true, -1},
		{"frames=16MiB", -1, 0, addr, false, 0},
		{"frames=32KiB,no-window,sockbuf=256KiB", 0, 256 << 10, addr256, false, -1},
		{"frames=32KiB,no-window,sockbuf=128KiB", 0, 128 << 10, addr128, false, -1},
	} {
		for _, bulk := range []bool{false, true} {
			name := fs.name + "/idle"
			if bulk {
				name = fs.name + "/during-64MiB"
			}
			b.Run(name, func(b *testing.B) {
				conn := dialT(b, fs.addr, WithConfig(Config{FrameSize: fs.size, SocketWriteBuffer: fs.buf, SocketReadBuffer: fs.buf, Window: fs.window}), withoutSizeHint(fs.noHint))
				small, err := conn.NewChannel(testCtx(b))
				if err != nil {
					b.Fatal(err)
				}
				stop, bulkDone := make(chan struct{}), make(chan error, 1)
				var echoed atomic.Int64 // bulk bytes echoed while the small calls ran
				if bulk {
					bulkCh, err := conn.NewChannel(testCtx(b))
					if err != nil {
						b.Fatal(err)
					}
					big := pattern(64 << 20)
					started := make(chan struct{})
					go func() {
						close(started)
						for {
							select {
							case <-stop:
								bulkDone <- nil
								return
							default:
							}
							ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
							_, err := bulkCh.Do(ctx, "/echo", big)
							cancel()
							if err != nil {
								bulkDone <- err
								return
							}
							echoed.Add(int64(len(big)))
						}
					}()
					<-started
				} else {
					bulkDone <- nil
				}
				h := hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
				data := pattern(100)
				b.ResetTimer()
				start := time.Now()
				for range b.N {
					t0 := time.Now()
					if _, err := small.Do(testCtx(b), "/small", data); err != nil {
						b.Fatal(err)
					}
					_ = h.RecordValue(time.Since(t0).Microseconds())
				}
				b.StopTimer()
				elapsed := time.Since(start)
				close(stop)
				if err := <-bulkDone; err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(h.ValueAtQuantile(50)), "p50-us")
				b.ReportMetric(float64(h.ValueAtQuantile(99)), "p99-us")
				if bulk {
					b.ReportMetric(float64(echoed.Load())/elapsed.Seconds()/1e6, "bulk-MB/s")
				}
			})
		}
	}
}

// withoutSizeHint leaves the "size-hint" capability out of the offer, so
// that benchmarks compare connections with and without it.
func withoutSizeHint(off bool) ClientOption {
	return clientOption(func(o *clientOptions) { o.noSizeHint = off })
}
