package iip

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	iipAddr = flag.String("iipaddr", "", "IIP server for the PF benchmarks (host:port with /echo_benchmark); empty starts one on loopback")
	nAddr   = flag.String("naddr", "", "net/http server for BenchmarkPFEchoNetHttp (host:port with POST /echo_benchmark); empty starts one on loopback")
	lbcAddr = flag.String("lbcaddr", "", "server list for BenchmarkPFIIPBalanceClient (lbclient target with /echo_benchmark, e.g. 127.0.0.1:9090#2,127.0.0.1:9093#1); empty starts two loopback servers weighted 2 and 1")
)

// benchText is a 1,441-byte text; benchPayload repeats it 10 times.
var benchText = func() string {
	s := strings.Repeat("IIP carries path-addressed requests over the logical channels of one TCP connection; ", 20)
	return s[:1441]
}()

var benchPayload = []byte(strings.Repeat(benchText, 10))

const benchPath = "/echo_benchmark"

func benchIIPAddr(b *testing.B) string {
	return benchIIPServer(b, WithLogger(quietLogger()))
}

// benchIIPServer starts a loopback echo server with opts, or returns -iipaddr.
func benchIIPServer(b *testing.B, opts ...ServerOption) string {
	if *iipAddr != "" {
		return *iipAddr
	}
	s := newServerT(b, opts...)
	s.HandleFunc(benchPath, func(ctx context.Context, r *Request) ([]byte, error) { return r.Data, nil })
	return startServer(b, s)
}

func benchHTTPAddr(b *testing.B) string {
	if *nAddr != "" {
		return *nAddr
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+benchPath, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = w.Write(body)
	})
	mux.HandleFunc("POST "+benchPathReuse, func(w http.ResponseWriter, r *http.Request) {
		buf := httpBufs.Get().(*bytes.Buffer)
		defer httpBufs.Put(buf)
		buf.Reset()
		if _, err := buf.ReadFrom(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = w.Write(buf.Bytes())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	b.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

func checkEcho(b *testing.B, resp []byte, err error) {
	if err != nil {
		b.Fatal(err)
	}
	if !bytes.Equal(resp, benchPayload) {
		b.Fatalf("echo mismatch: %d bytes", len(resp))
	}
}

// BenchmarkPFEchoClientServer: one client, one channel, sequential calls.
func BenchmarkPFEchoClientServer(b *testing.B) {
	addr := benchIIPAddr(b)
	c := dialT(b, addr)
	ch, err := c.NewChannel(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(int64(len(benchPayload)))
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	for range b.N {
		resp, err := ch.Do(ctx, benchPath, benchPayload)
		checkEcho(b, resp, err)
	}
}

// BenchmarkPFEchoPooledClient: one pooled Client shared by parallel callers.
func BenchmarkPFEchoPooledClient(b *testing.B) {
	addr := benchIIPAddr(b)
	cl, err := NewClient(testCtx(b), addr, WithLogger(quietLogger()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.Close() })
	ctx := context.Background()
	b.SetBytes(int64(len(benchPayload)))
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := cl.Do(ctx, benchPath, benchPayload)
			checkEcho(b, resp, err)
		}
	})
}

// BenchmarkPFEchoPooledClientReuse is BenchmarkPFEchoPooledClient with
// the memory-reuse options on both ends: the server recycles request data
// (WithRecycleRequestData) and each caller appends responses to
// its own buffer (Client.DoAppend). Compare with
// BenchmarkPFEchoNetHttpParallelReuse.
func BenchmarkPFEchoPooledClientReuse(b *testing.B) {
	addr := benchIIPServer(b, WithLogger(quietLogger()), WithRecycleRequestData())
	cl, err := NewClient(testCtx(b), addr, WithLogger(quietLogger()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.Close() })
	benchReuse(b, cl.DoAppend)
}

// benchReuse runs parallel callers of do, each appending to its own buffer.
func benchReuse(b *testing.B, do func(ctx context.Context, path string, data, dst []byte) ([]byte, error)) {
	ctx := context.Background()
	b.SetBytes(int64(len(benchPayload)))
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		var buf []byte
		for pb.Next() {
			var err error
			buf, err = do(ctx, benchPath, benchPayload, buf[:0])
			checkEcho(b, buf, err)
		}
	})
}

// benchLBTarget returns -lbcaddr, or a target of two loopback echo servers weighted 2 and 1.
func benchLBTarget(b *testing.B) string {
	if *lbcAddr != "" {
		return *lbcAddr
	}
	return fmt.Sprintf("%s#2,%s#1", benchIIPAddr(b), benchIIPAddr(b))
}

// BenchmarkPFIIPBalanceClient: a LoadBalanceClient (default picker, one
// pooled Client per server) shared by parallel callers.
func BenchmarkPFIIPBalanceClient(b *testing.B) {
	lb, err := NewLoadBalanceClient(benchLBTarget(b), WithLogger(quietLogger()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { lb.Close() })
	ctx := context.Background()
	b.SetBytes(int64(len(benchPayload)))
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := lb.Do(ctx, benchPath, benchPayload)
			checkEcho(b, resp, err)
		}
	})
}

// BenchmarkPFIIPBalanceClientReuse is BenchmarkPFIIPBalanceClient with the
// memory-reuse options of BenchmarkPFEchoPooledClientReuse.
func BenchmarkPFIIPBalanceClientReuse(b *testing.B) {
	target := *lbcAddr
	if target == "" {
		opts := []ServerOption{WithLogger(quietLogger()), WithRecycleRequestData()}
		target = fmt.Sprintf("%s#2,%s#1", benchIIPServer(b, opts...), benchIIPServer(b, opts...))
	}
	lb, err := NewLoadBalanceClient(target, WithLogger(quietLogger()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { lb.Close() })
	benchReuse(b, lb.DoAppend)
}

func httpEcho(b *testing.B, hc *http.Client, url string) {
	resp, err := hc.Post(url, "application/octet-stream", bytes.NewReader(benchPayload))
	if err != nil {
		b.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %s", resp.Status)
	}
	checkEcho(b, body, err)
}

// benchPathReuse is the loopback net/http echo that reads bodies into
// pooled buffers (BenchmarkPFEchoNetHttpParallelReuse).
const benchPathReuse = "/echo_benchmark_reuse"

var httpBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// BenchmarkPFEchoNetHttpParallelReuse is BenchmarkPFEchoNetHttpParallel
// with memory reuse on both ends, the baseline of the Reuse benchmarks: the
// loopback server reads each body into a pooled buffer, each caller reads
// responses into its own buffer. With -naddr only the client side reuses.
func BenchmarkPFEchoNetHttpParallelReuse(b *testing.B) {
	path := benchPathReuse
	if *nAddr != "" {
		path = benchPath
	}
	url := "http://" + benchHTTPAddr(b) + path
	hc := benchHTTPClient(b)
	b.SetBytes(int64(len(benchPayload)))
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		var buf bytes.Buffer
		for pb.Next() {
			resp, err := hc.Post(url, "application/octet-stream", bytes.NewReader(benchPayload))
			if err != nil {
				b.Fatal(err)
			}
			buf.Reset()
			_, err = buf.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %s", resp.Status)
			}
			checkEcho(b, buf.Bytes(), err)
		}
	})
}

func benchHTTPClient(b *testing.B) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// BenchmarkPFEchoNetHttp: net/http POST echo, sequential calls.
func BenchmarkPFEchoNetHttp(b *testing.B) {
	url := "http://" + benchHTTPAddr(b) + benchPath
	hc := benchHTTPClient(b)
	b.SetBytes(int64(len(benchPayload)))
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	for range b.N {
		httpEcho(b, hc, url)
	}
}

// BenchmarkPFEchoNetHttpParallel: net/http POST echo from parallel callers,
// the baseline of BenchmarkPFEchoPooledClient.
func BenchmarkPFEchoNetHttpParallel(b *testing.B) {
	url := "http://" + benchHTTPAddr(b) + benchPath
	hc := benchHTTPClient(b)
	b.SetBytes(int64(len(benchPayload)))
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			httpEcho(b, hc, url)
		}
	})
}

// repeatReader serves the same bytes forever.
type repeatReader struct {
	b   []byte
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.b[r.off:])
		n += c
		r.off = (r.off + c) % len(r.b)
	}
	return n, nil
}

// BenchmarkFrameDecode decodes a header and the data of a small frame.
func BenchmarkFrameDecode(b *testing.B) {
	frame := appendHeader(nil, statusRequest, "/echo?key=value", 7, 64)
	frame = append(frame, make([]byte, 64)...)
	fr := newFrameReader(&repeatReader{b: frame}, DefaultReadBufferSize)
	data := make([]byte, 64)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for range b.N {
		h, err := fr.readHeader()
		if err != nil || h.Length != 64 {
			b.Fatal(h, err)
		}
		if err := fr.readData(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStatsRecord is the per-request statistics cost.
func BenchmarkStatsRecord(b *testing.B) {
	p := newPathStats("/echo")
	now := time.Now()
	b.ReportAllocs()
	for i := range b.N {
		p.record(now, time.Duration(i%100000), false, 100, 100)
	}
}

// BenchmarkWriteMessage encodes and writes a 14,410-byte response.
func BenchmarkWriteMessage(b *testing.B) {
	w := newConnWriter(discardConn{}, func(error) {})
	ctx := context.Background()
	b.SetBytes(int64(len(benchPayload)))
	b.ReportAllocs()
	for range b.N {
		if _, err := w.writeMessage(ctx, statusResponseFirst, benchPath, 3, int(dataMarkerOK), false, benchPayload); err != nil {
			b.Fatal(err)
		}
	}
}

// discardConn is a net.Conn that accepts every write.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }
