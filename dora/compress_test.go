package dora_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/dora/wirepb"
	"github.com/seed857a6cbd/pocket/nap"
)

// lastStats keeps the last client call's stats.
type lastStats struct {
	mu sync.Mutex
	st dora.CallStats
}

func (l *lastStats) CallBegin(ctx context.Context, _ *dora.CallInfo) context.Context { return ctx }
func (l *lastStats) CallEnd(_ context.Context, s *dora.CallStats) {
	l.mu.Lock()
	l.st = *s
	l.mu.Unlock()
}
func (l *lastStats) get() dora.CallStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

func gzipped(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestCompression(t *testing.T) {
	ts := startServer(t, nil)
	stats := &lastStats{}
	ec := echo.NewEchoClient(newTestClient(t, ts.addr, dora.WithStats(stats)))
	big := strings.Repeat("compressible text ", 4000) // 72,000 bytes
	for _, tc := range []struct {
		name       string
		text       string
		opts       []dora.CallOption
		compressed bool // both ways
	}{
		{"gzip, large", big, []dora.CallOption{dora.UseCompressor(dora.Gzip)}, true},
		{"gzip, under the threshold", "short", []dora.CallOption{dora.UseCompressor(dora.Gzip)}, false},
		{"no compressor: plain both ways", big, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := ec.Say(testCtx(t), &echo.SayRequest{Text: tc.text}, tc.opts...)
			if err != nil || resp.Text != tc.text {
				t.Fatalf("Say: %v (%d bytes back, want %d)", err, len(resp.GetText()), len(tc.text))
			}
			st := stats.get()
			small := st.BytesOut < len(tc.text)/10 && st.BytesIn < len(tc.text)/10
			if tc.compressed != small {
				t.Fatalf("%d bytes out, %d in for a %d-byte text; want compressed %v", st.BytesOut, st.BytesIn, len(tc.text), tc.compressed)
			}
			if !tc.compressed && st.BytesOut < len(tc.text) {
				t.Fatalf("plain request of %d bytes sent as %d", len(tc.text), st.BytesOut)
			}
		})
	}
	t.Run("unknown compressor", func(t *testing.T) {
		_, err := ec.Say(testCtx(t), &echo.SayRequest{Text: big}, dora.UseCompressor("zstd"))
		if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "zstd") {
			t.Fatalf("err = %v, want Internal naming zstd", err)
		}
	})
}

func TestCompressionThresholds(t *testing.T) {
	ts := startServer(t, nil, dora.WithCompressionThreshold(1<<20))
	stats := &lastStats{}
	ec := echo.NewEchoClient(newTestClient(t, ts.addr, dora.WithStats(stats), dora.WithCompressionThreshold(10)))
	text := strings.Repeat("a", 5000)
	if _, err := ec.Say(testCtx(t), &echo.SayRequest{Text: text}, dora.UseCompressor(dora.Gzip)); err != nil {
		t.Fatal(err)
	}
	// The request (over the client's 10 bytes) is compressed, the response (under the
	// server's 1 MiB) is not.
	if st := stats.get(); st.BytesOut > 500 || st.BytesIn < 5000 {
		t.Fatalf("%d bytes out, %d in; want a compressed request and a plain response", st.BytesOut, st.BytesIn)
	}
}

// rawGzipCall sends one unary request Pkg with meta on a raw nap session and returns the
// response Pkg.
func rawGzipCall(t *testing.T, addr string, meta map[string]string, payload []byte) *wirepb.Pkg {
	t.Helper()
	ctx := testCtx(t)
	sess, err := nap.Dial(ctx, "tcp", addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	st, err := sess.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req, err := proto.Marshal(&wirepb.Pkg{Head: &wirepb.Head{Version: 1, Method: echo.Echo_Say_FullMethodName, Meta: meta}, Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendAndClose(req); err != nil {
		t.Fatal(err)
	}
	msg, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	p := new(wirepb.Pkg)
	if err := proto.Unmarshal(msg, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// A gzip bomb (64 MiB of zeros in 64 KiB) from a raw peer: refused with ResourceExhausted
// once the output passes the 1 MiB message limit, without the handler running and without
// the server allocating anywhere near the bomb's size.
func TestCompressionBomb(t *testing.T) {
	ran := make(chan struct{}, 1)
	impl := &echoImpl{onSay: func(context.Context, *echo.SayRequest) (*echo.SayResponse, error) {
		ran <- struct{}{}
		return &echo.SayResponse{}, nil
	}}
	ts := startServer(t, impl, dora.MaxRecvMsgSize(1<<20))
	// 64 gzip members of 1 MiB of zeros each: one gzip stream (readers go on to the next
	// member), cheap to build.
	bomb := bytes.Repeat(gzipped(t, make([]byte, 1<<20)), 64)
	if len(bomb) > 1<<20 {
		t.Fatalf("bomb is %d bytes, over the message limit itself", len(bomb))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	p := rawGzipCall(t, ts.addr, map[string]string{dora.MetaEncoding: dora.Gzip}, bomb)
	runtime.ReadMemStats(&after)
	meta := p.GetHead().GetMeta()
	if meta[dora.MetaStatus] != "8" || !strings.Contains(meta[dora.MetaMessage], "decompressed") {
		t.Fatalf("bomb answered %v, want ResourceExhausted (8) about the decompressed size", meta)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Fatalf("the process allocated %d MiB answering a bomb with a 1 MiB limit", grew>>20)
	}
	select {
	case <-ran:
		t.Fatal("the handler ran")
	default:
	}
	// An unknown encoding and a corrupt gzip payload are refused too.
	if m := rawGzipCall(t, ts.addr, map[string]string{dora.MetaEncoding: "br"}, []byte{1}).GetHead().GetMeta(); m[dora.MetaStatus] != "12" {
		t.Fatalf("unknown encoding answered %v, want Unimplemented", m)
	}
	if m := rawGzipCall(t, ts.addr, map[string]string{dora.MetaEncoding: dora.Gzip}, []byte("not gzip")).GetHead().GetMeta(); m[dora.MetaStatus] != "3" {
		t.Fatalf("corrupt gzip answered %v, want InvalidArgument", m)
	}
}

func TestGunzipBound(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 10000)
	z := gzipped(t, data)
	for _, limit := range []int{10000, 10001, 1 << 20} {
		got, err := dora.Gunzip(z, limit)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("limit %d: %d bytes, %v", limit, len(got), err)
		}
		if cap(got) > limit+1 {
			t.Fatalf("limit %d: buffer of %d bytes", limit, cap(got))
		}
	}
	if _, err := dora.Gunzip(z, 9999); !errors.Is(err, dora.ErrDecompressedTooLarge) {
		t.Fatalf("limit 9999: err = %v, want ErrDecompressedTooLarge", err)
	}
}

// Legacy peers never get compressed responses, even if their meta asked.
func TestCompressionNotForLegacy(t *testing.T) {
	ts := startServer(t, nil)
	lc := dialLegacy(t, ts.addr)
	lc.send(1, legacyPkg(t, "Say", map[string]string{dora.MetaAcceptEncoding: dora.Gzip}, &echo.SayRequest{Text: strings.Repeat("y", 8000)}))
	_, p := lc.recv()
	if _, ok := p.GetHead().GetMeta()[dora.MetaEncoding]; ok {
		t.Fatalf("legacy response meta %v has %s", p.GetHead().GetMeta(), dora.MetaEncoding)
	}
	resp := new(echo.SayResponse)
	if err := proto.Unmarshal(p.GetPayload(), resp); err != nil || len(resp.Text) != 8000 {
		t.Fatalf("legacy response: %v, %d bytes", err, len(resp.GetText()))
	}
}
