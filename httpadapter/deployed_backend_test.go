package httpadapter

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// deployedBackend models a deployed IIP backend (the protocol's original Go
// implementation, issue #15 facts 1-4, 6, 7) over raw TCP: 16 KiB socket
// buffers, a 3 s write deadline per frame, responses on the request path
// without its query, handler errors as {"code":-1,...}, unknown paths as
// {"code":102,"message":"handle error"}, empty or panicking handlers as
// 101, /sys/delete_channel never answered, frames of at most 16 MiB, and
// __http_hdr__ decoded as base64url of JSON map[string][]string (a value of
// another shape fails the handler). It serves one request at a time per
// connection. Paths:
//
//	/headers  answers {"method":..., "x_test":[...]} from __http_hdr__
//	/echo     answers the request data
//	/fail     handler error (-1)
//	/empty    handler returned nothing (101)
//	/panic    handler panicked (101)
//	else      unknown path (102 handle error)
type deployedBackend struct {
	l     net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

const (
	deployedSockBuf      = 16 << 10
	deployedWriteTimeout = 3 * time.Second
	deployedMaxFrame     = 16 << 20
)

func startDeployedBackend(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &deployedBackend{l: l, conns: map[net.Conn]bool{}}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns[c] = true
			b.mu.Unlock()
			b.wg.Add(1)
			go b.serve(c)
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		b.mu.Lock()
		for c := range b.conns {
			_ = c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return l.Addr().String()
}

type deployedFrame struct {
	status byte
	path   string
	ch     uint32
	data   []byte
}

func readDeployedFrame(br *bufio.Reader) (deployedFrame, error) {
	var f deployedFrame
	st, err := br.ReadByte()
	if err != nil {
		return f, err
	}
	path, err := br.ReadString(0)
	if err != nil {
		return f, err
	}
	var n [8]byte
	if _, err := io.ReadFull(br, n[:]); err != nil {
		return f, err
	}
	size := binary.BigEndian.Uint32(n[4:])
	if size == 0 || size > deployedMaxFrame {
		return f, fmt.Errorf("frame length %d", size)
	}
	f = deployedFrame{status: st, path: path[:len(path)-1], ch: binary.BigEndian.Uint32(n[:4]), data: make([]byte, size)}
	_, err = io.ReadFull(br, f.data)
	return f, err
}

func (b *deployedBackend) serve(c net.Conn) {
	defer b.wg.Done()
	defer func() {
		_ = c.Close()
		b.mu.Lock()
		delete(b.conns, c)
		b.mu.Unlock()
	}()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(deployedSockBuf)
		_ = tc.SetWriteBuffer(deployedSockBuf)
	}
	br := bufio.NewReaderSize(c, 16<<10)
	next := 0
	for {
		f, err := readDeployedFrame(br)
		if err != nil || f.status == 8 {
			return
		}
		for f.status == 0 || f.status == 2 { // assemble continuation frames
			g, err := readDeployedFrame(br)
			if err != nil || g.ch != f.ch || (g.status != 2 && g.status != 3) {
				return
			}
			f.data = append(f.data, g.data...)
			f.status = g.status
		}
		route, rawQuery, _ := strings.Cut(f.path, "?")
		var out []byte
		switch route {
		case "/sys/new_channel":
			next++
			out = fmt.Appendf(nil, `{"code":0,"channel_id":%d}`, next)
		case "/sys/delete_channel":
			continue // never answered
		case "/headers":
			out = deployedHeaders(rawQuery)
		case "/echo":
			out = f.data
		case "/fail":
			out = []byte(`{"code":-1,"message":"handler fail:db down"}`)
		case "/empty":
			out = []byte(`{"code":101,"message":"handler return empty"}`)
		case "/panic":
			out = []byte(`{"code":101,"message":"handler panic"}`)
		default:
			out = []byte(`{"code":102,"message":"handle error"}`)
		}
		if err := writeDeployed(c, route, f.ch, out); err != nil {
			return
		}
	}
}

// deployedHeaders decodes __http_hdr__ as deployed backends do.
func deployedHeaders(rawQuery string) []byte {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return []byte(`{"code":-1,"message":"handler fail:bad query"}`)
	}
	js, err := base64.URLEncoding.DecodeString(q.Get(HeaderParam))
	if err != nil {
		return []byte(`{"code":-1,"message":"handler fail:bad base64"}`)
	}
	var h map[string][]string
	if err := json.Unmarshal(js, &h); err != nil {
		return []byte(`{"code":-1,"message":"handler fail:bad header json"}`)
	}
	out, _ := json.Marshal(map[string]any{"method": h[":method"], "x_test": h["X-Test"]})
	return out
}

// writeDeployed writes a response as frames of at most 16 MiB, each under
// a 3 s deadline.
func writeDeployed(c net.Conn, path string, ch uint32, data []byte) error {
	for off := 0; ; {
		n := min(len(data)-off, deployedMaxFrame)
		st := byte(5)
		switch {
		case off == 0 && n < len(data):
			st = 4
		case off > 0 && off+n < len(data):
			st = 6
		case off > 0:
			st = 7
		}
		hdr := append([]byte{st}, path...)
		hdr = append(hdr, 0)
		hdr = binary.BigEndian.AppendUint32(hdr, ch)
		hdr = binary.BigEndian.AppendUint32(hdr, uint32(n))
		_ = c.SetWriteDeadline(time.Now().Add(deployedWriteTimeout))
		bufs := net.Buffers{hdr, data[off : off+n]}
		if _, err := bufs.WriteTo(c); err != nil {
			return err
		}
		if off += n; off == len(data) {
			return nil
		}
	}
}

// TestAdapterInFrontOfDeployedBackend: the adapter in front of a deployed
// IIP backend answers real statuses: every request carries __http_hdr__ in
// the query (the backend answers on the path without it), headers arrive
// in the array form the backend decodes, 1 MiB bodies pass both ways, a
// handler error is 500, an unknown path 404, never 200 with an error inside.
func TestAdapterInFrontOfDeployedBackend(t *testing.T) {
	addr := startDeployedBackend(t)
	client := iipClient(t, addr)
	_, ts := newAdapter(t, WithIIPRoute(Route{Backend: client}))
	hdr := http.Header{"X-Test": {"a", "b"}}

	r := do(t, nil, http.MethodGet, ts.URL+"/headers?x=1&y=%41", "", nil, hdr)
	if r.status != http.StatusOK {
		t.Fatalf("/headers: status %d: %s", r.status, r.body)
	}
	var got struct {
		Method []string `json:"method"`
		XTest  []string `json:"x_test"`
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || strings.Join(got.Method, ",") != "GET" || strings.Join(got.XTest, ",") != "a,b" {
		t.Fatalf("/headers: backend decoded %s (%v)", r.body, err)
	}

	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	r = do(t, nil, http.MethodPost, ts.URL+"/echo?n=1", "", bytes.NewReader(body), nil)
	if r.status != http.StatusOK || r.body != string(body) {
		t.Fatalf("/echo 1 MiB: status %d, %d bytes back", r.status, len(r.body))
	}

	cases := []struct {
		path   string
		status int
		code   string
	}{
		{"/fail?a=1", http.StatusInternalServerError, CodeHandlerError},
		{"/empty", http.StatusInternalServerError, CodeHandlerError},
		{"/panic", http.StatusInternalServerError, CodeHandlerError},
		{"/missing?q=x", http.StatusNotFound, CodeNotFound},
	}
	for _, tc := range cases {
		r := do(t, nil, http.MethodGet, ts.URL+tc.path, "", nil, nil)
		if r.status != tc.status {
			t.Fatalf("%s: status %d, want %d: %s", tc.path, r.status, tc.status, r.body)
		}
		if e := r.errBody(t); e.Code != tc.code {
			t.Fatalf("%s: code %q, want %q", tc.path, e.Code, tc.code)
		}
	}

	// The joined form (the former default) is what deployed backends cannot
	// decode: their handler fails, and the adapter says so with a 500.
	_, joined := newAdapter(t, WithHeaderFormat(HeaderJoined), WithIIPRoute(Route{Backend: client}))
	r = do(t, nil, http.MethodGet, joined.URL+"/headers", "", nil, hdr)
	if r.status != http.StatusInternalServerError || !strings.Contains(r.body, "bad header json") {
		t.Fatalf("joined headers: status %d: %s", r.status, r.body)
	}
}
