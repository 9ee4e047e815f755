package nap

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// benchPair connects a client and a server session over loopback TCP.
func benchPair(b *testing.B, cfg *Config) (*Session, *Session) {
	b.Helper()
	return pair(b, cfg, cfg)
}

// serveWorkers answers unary calls with a fixed pool of workers (no
// goroutine per stream), echoing the request.
func serveWorkers(s *Session, workers int) (stop func()) {
	streams := make(chan *Stream, workers)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for st := range streams {
				if m, err := st.Recv(); err == nil {
					st.SendAndClose(m)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(streams)
		for {
			st, err := s.AcceptStream(context.Background())
			if err != nil {
				return
			}
			streams <- st
		}
	}()
	return func() { s.Close(); wg.Wait() }
}

// BenchmarkRequestResponse: 1 KiB unary calls on one connection with 1, 16,
// 100 and 1000 concurrent streams. ns/op is per call (throughput), allocs/op
// counts both sides.
func BenchmarkRequestResponse(b *testing.B) {
	for _, conc := range []int{1, 16, 100, 1000} {
		b.Run(fmt.Sprintf("streams=%d", conc), func(b *testing.B) {
			c, s := benchPair(b, nil)
			stop := serveWorkers(s, conc)
			defer stop()
			msg := make([]byte, 1024)
			b.SetBytes(2 * 1024)
			b.ReportAllocs()
			var left atomic.Int64
			left.Store(int64(b.N))
			var wg sync.WaitGroup
			b.ResetTimer()
			for g := 0; g < conc; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx := context.Background()
					for left.Add(-1) >= 0 {
						if _, err := call(ctx, c, msg); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

// BenchmarkBulk: one stream carrying 64 KiB messages one way.
func BenchmarkBulk(b *testing.B) {
	// release: the receiver hands each message back with Release, as a bulk
	// consumer that is done with the bytes would (the raw TCP reference reuses
	// one buffer the same way). owned: the receiver keeps every message.
	b.Run("release", func(b *testing.B) { benchBulk(b, true) })
	b.Run("owned", func(b *testing.B) { benchBulk(b, false) })
}

func benchBulk(b *testing.B, release bool) {
	c, s := benchPair(b, benchBulkCfg)
	ctx := context.Background()
	st, err := c.OpenStream(ctx)
	if err != nil {
		b.Fatal(err)
	}
	recvDone := make(chan error, 1)
	go func() {
		sst, err := s.AcceptStream(ctx)
		if err != nil {
			recvDone <- err
			return
		}
		for {
			m, err := sst.Recv()
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				recvDone <- err
				return
			}
			if release {
				sst.Release(m)
			}
		}
	}()
	msg := make([]byte, 64<<10)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := st.Send(msg); err != nil {
			b.Fatal(err)
		}
	}
	st.CloseSend()
	if err := <-recvDone; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSmallCallDuringBulk: latency (ns/op) of sequential 1 KiB calls
// while another stream on the same connection streams 64 KiB messages.
func BenchmarkSmallCallDuringBulk(b *testing.B) {
	runSmallCallDuringBulk(b, nil, 64<<10)
}

// BenchmarkSmallCallDuringLargeBulk: the same with 1 MiB bulk messages and
// MaxFrameSize 64 KiB (default) or 256 KiB on both sides: the bulk stream
// alone sends frames of MaxFrameSize, and 64 KiB ones (sharedFrameSize)
// while a small call waits for the writer.
func BenchmarkSmallCallDuringLargeBulk(b *testing.B) {
	for _, frame := range []int{64 << 10, 256 << 10} {
		b.Run(fmt.Sprintf("frame=%dKiB", frame>>10), func(b *testing.B) {
			runSmallCallDuringBulk(b, &Config{MaxFrameSize: frame}, 1<<20)
		})
	}
}

// runSmallCallDuringBulk makes b.N sequential 1 KiB calls while another
// stream on the same session pair (configured with cfg) sends bulk-byte
// messages without pause.
func runSmallCallDuringBulk(b *testing.B, cfg *Config, bulkSize int) {
	c, s := benchPair(b, cfg)
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // server: the first stream is the bulk sink, the others echo
		defer wg.Done()
		first := true
		for {
			st, err := s.AcceptStream(ctx)
			if err != nil {
				return
			}
			if first {
				first = false
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						if _, err := st.Recv(); err != nil {
							return
						}
					}
				}()
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if m, err := st.Recv(); err == nil {
					st.SendAndClose(m)
				}
			}()
		}
	}()
	bulk, _ := c.OpenStream(ctx)
	big := make([]byte, bulkSize)
	if err := bulk.Send(big); err != nil { // the bulk stream reaches the server first
		b.Fatal(err)
	}
	stopBulk := make(chan struct{})
	bulkDone := make(chan struct{})
	go func() {
		defer close(bulkDone)
		for {
			select {
			case <-stopBulk:
				bulk.CloseSend()
				return
			default:
			}
			if bulk.Send(big) != nil {
				return
			}
		}
	}()
	msg := make([]byte, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := call(ctx, c, msg); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(stopBulk)
	<-bulkDone
	c.Close()
	s.Close()
	wg.Wait()
}

// --- raw TCP reference: length-prefixed messages on loopback ---------------

func rawTCPPair(b *testing.B) (client net.Conn, server net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	server = <-ch
	b.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func writeMsg(w *bufio.Writer, m []byte) error {
	var h [4]byte
	binary.BigEndian.PutUint32(h[:], uint32(len(m)))
	w.Write(h[:])
	_, err := w.Write(m)
	return err
}

func readMsg(r *bufio.Reader, buf []byte) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if int(n) > cap(buf) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err := io.ReadFull(r, buf)
	return buf, err
}

// BenchmarkRawTCPEcho: sequential 1 KiB length-prefixed request/response on
// one loopback TCP connection (the reference for streams=1).
func BenchmarkRawTCPEcho(b *testing.B) {
	client, server := rawTCPPair(b)
	go func() {
		r, w := bufio.NewReader(server), bufio.NewWriter(server)
		buf := make([]byte, 64<<10)
		for {
			m, err := readMsg(r, buf)
			if err != nil {
				return
			}
			writeMsg(w, m)
			w.Flush()
		}
	}()
	r, w := bufio.NewReader(client), bufio.NewWriter(client)
	msg := make([]byte, 1024)
	buf := make([]byte, 64<<10)
	b.SetBytes(2 * 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		writeMsg(w, msg)
		w.Flush()
		if _, err := readMsg(r, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawTCPBulk: 64 KiB length-prefixed messages one way on one
// loopback TCP connection (the reference for BenchmarkBulk).
func BenchmarkRawTCPBulk(b *testing.B) {
	client, server := rawTCPPair(b)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := bufio.NewReaderSize(server, 64<<10)
		buf := make([]byte, 64<<10)
		for {
			if _, err := readMsg(r, buf); err != nil {
				return
			}
		}
	}()
	w := bufio.NewWriterSize(client, 64<<10)
	msg := make([]byte, 64<<10)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := writeMsg(w, msg); err != nil {
			b.Fatal(err)
		}
	}
	w.Flush()
	client.(*net.TCPConn).CloseWrite()
	<-done
}

var benchBulkCfg *Config

// BenchmarkLargeCall: one unary echo call at a time on one connection, with
// messages of several frames; both sides release what they received. hints
// compares the size hint (one buffer of the announced size) with the buffer
// that doubles as frames arrive (disableSizeHints on both sides). B/op and
// allocs/op count both sides.
func BenchmarkLargeCall(b *testing.B) {
	for _, size := range []int{128 << 10, 1 << 20, 4 << 20} {
		for _, hints := range []bool{true, false} {
			b.Run(fmt.Sprintf("size=%dKiB/hints=%v", size>>10, hints), func(b *testing.B) {
				runLargeCall(b, &Config{disableSizeHints: !hints}, size)
			})
		}
	}
}

// BenchmarkLargeCallFrameSize is BenchmarkLargeCall's 1 MiB call with
// MaxFrameSize (both sides) from the default 64 KiB to 1 MiB, and with both
// windows at 4 MiB: what frame size and window updates cost a large call.
func BenchmarkLargeCallFrameSize(b *testing.B) {
	for _, frame := range []int{64 << 10, 256 << 10, 1 << 20} {
		for _, window := range []int{0, 4 << 20} {
			b.Run(fmt.Sprintf("frame=%dKiB/window=%dKiB", frame>>10, window>>10), func(b *testing.B) {
				runLargeCall(b, &Config{MaxFrameSize: frame, StreamWindow: window, ConnWindow: window}, 1<<20)
			})
		}
	}
}

// runLargeCall makes b.N calls of size bytes each way, one at a time, on one
// session pair configured with cfg.
func runLargeCall(b *testing.B, cfg *Config, size int) {
	c, s := benchPair(b, cfg)
	go func() {
		for {
			st, err := s.AcceptStream(context.Background())
			if err != nil {
				return
			}
			m, err := st.Recv()
			if err == nil {
				st.SendAndClose(m)
				st.Release(m)
			}
			st.Close()
		}
	}()
	msg := make([]byte, size)
	ctx := context.Background()
	b.SetBytes(2 * int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st, err := c.OpenStream(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := st.SendAndClose(msg); err != nil {
			b.Fatal(err)
		}
		m, err := st.Recv()
		if err != nil || len(m) != size {
			b.Fatalf("reply of %d bytes, %v", len(m), err)
		}
		st.Release(m)
		st.Close()
	}
}

// BenchmarkRawTCPLargeEcho is BenchmarkLargeCall's reference: the same
// messages echoed one at a time over one loopback TCP connection with a
// 4-byte length, read into buffers reused across calls (the wire's limit).
func BenchmarkRawTCPLargeEcho(b *testing.B) {
	for _, size := range []int{128 << 10, 1 << 20, 4 << 20} {
		b.Run(fmt.Sprintf("size=%dKiB", size>>10), func(b *testing.B) {
			client, server := rawTCPPair(b)
			go func() {
				r, w := bufio.NewReader(server), bufio.NewWriter(server)
				buf := make([]byte, size)
				for {
					m, err := readMsg(r, buf)
					if err != nil {
						return
					}
					writeMsg(w, m)
					w.Flush()
				}
			}()
			r, w := bufio.NewReader(client), bufio.NewWriter(client)
			msg, buf := make([]byte, size), make([]byte, size)
			b.SetBytes(2 * int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				writeMsg(w, msg)
				w.Flush()
				if _, err := readMsg(r, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
