package iip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/iip/internal/testkit"
)

// caller is one of pocket's client shapes under test.
type caller interface {
	Do(ctx context.Context, path string, data []byte) ([]byte, error)
}

// deployedCallers returns pocket's client shapes connected to addr: one
// Channel of a Conn, a pooled Client, and a LoadBalanceClient whose target
// is written as deployed configs write it (fact 5: empty host, repeats).
func deployedCallers(t *testing.T, addr string) map[string]caller {
	t.Helper()
	opts := []ClientOption{WithLogger(quietLogger())}
	conn := dialT(t, addr, opts...)
	ch, err := conn.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := NewClient(testCtx(t), addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pool.Close() })
	port := addr[strings.LastIndexByte(addr, ':'):]
	lb, err := NewLoadBalanceClient(port+"#1,"+port+"#1,"+port+"#1", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lb.Close() })
	if eps := lb.b.Endpoints(); len(eps) != 1 || eps[0].Weight != 3 || !strings.HasPrefix(eps[0].Addr, "localhost:") {
		t.Fatalf("balanced endpoints %v, want localhost%s#3", eps, port)
	}
	return map[string]caller{"channel": ch, "pooled": pool, "balanced": lb}
}

// TestMatrixPocketClientsAgainstDeployedServer runs every client shape of
// pocket against the deployed-server model (deployed_peer_test.go): query
// paths (fact 1), the deployed error shapes (fact 3), data that merely
// looks like an error, and messages from 0 B to 64 MiB (fact 7: over
// 16 MiB as continuation frames both ways) through 16 KiB socket buffers
// and 3 s frame deadlines (fact 2; largeFrameWriteTimeout under the race
// detector).
func TestMatrixPocketClientsAgainstDeployedServer(t *testing.T) {
	ds := testkit.StartDeployedIIP(t, testkit.DeployedIIPConfig{Handlers: deployedHandlers(), WriteTimeout: largeFrameWriteTimeout})
	callers := deployedCallers(t, ds.Addr())
	type tc struct {
		name    string
		path    string
		data    []byte
		want    []byte // nil: want the request data back
		wantErr error
	}
	cases := []tc{
		{name: "query path", path: "/echo?x=1&y=%41", data: []byte("q")},
		{name: "query path, header arg", path: "/echo?__http_hdr__=e30%3D", data: []byte("h")},
		{name: "empty data goes as {}", path: "/echo", data: nil, want: []byte("{}")},
		{name: "continuation frames", path: "/big", data: []byte("{}"), want: []byte("123456")},
		{name: "handler error code -1", path: "/fail", wantErr: ErrHandler},
		{name: "handler error code -1 with query", path: "/fail?a=b", wantErr: ErrHandler},
		{name: "unknown path code 102", path: "/missing", wantErr: ErrNoHandler},
		{name: "empty handler code 101", path: "/empty", wantErr: ErrNoResponse},
		{name: "panicking handler code 101", path: "/panic", wantErr: ErrNoResponse},
		{name: "data with a code key stays data", path: "/code-data", want: []byte(`{"code":-1,"message":"not found","items":[]}`)},
		{name: "error-like data stays data", path: "/looks-like-error", want: []byte(`{"code":105,"message":"no handler","extra":1}`)},
	}
	for _, n := range []int{1, 1 << 10, 1 << 20} {
		cases = append(cases, tc{name: fmt.Sprintf("echo %d bytes", n), path: "/echo", data: pattern(n)})
	}
	// Messages of one whole frame and of two frames (both ways) go through
	// one client shape: they share the connection code of all three.
	large := []int{16 << 20, 17 << 20}
	if !matrixUnderRace {
		large = append(large, 64<<20) // 4 frames each way
	}
	for _, name := range []string{"channel", "pooled", "balanced"} {
		c := callers[name]
		t.Run(name, func(t *testing.T) {
			cases := cases
			if name == "pooled" {
				for _, n := range large {
					cases = append(cases, tc{name: fmt.Sprintf("echo %d MiB", n>>20), path: "/echo", data: pattern(n)})
				}
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					// The kit's bound for a loaded machine: a 17 MiB echo
					// takes seconds under the race detector.
					got, err := c.Do(testkit.Context(t, testkit.DefaultTimeout), tc.path, tc.data)
					if tc.wantErr != nil {
						if !errors.Is(err, tc.wantErr) {
							t.Fatalf("err %v, want %v", err, tc.wantErr)
						}
						return
					}
					want := tc.want
					if want == nil {
						want = tc.data
					}
					if err != nil || !bytes.Equal(got, want) {
						t.Fatalf("got %d bytes %q, err %v; want %d bytes %q", len(got), truncate(got, 64), err, len(want), truncate(want, 64))
					}
				})
			}
		})
	}
	for _, p := range ds.Seen() {
		if strings.HasPrefix(p, sysPrefix) && p != pathNewChannel {
			t.Errorf("pocket sent %s to a deployed server", p)
		}
	}
}

// pattern returns n bytes that are not all alike, so a shifted copy fails.
// It fills 4099 bytes (a prime, so frame boundaries fall at different
// offsets) and copies them on, which is fast under -race.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range min(n, 4099) {
		b[i] = byte(i*7 + i>>5)
	}
	for done := min(n, 4099); done < n; done *= 2 {
		copy(b[done:], b[:done])
	}
	return b
}

// TestMatrixChannelCloseDeployed: a deployed server never answers
// /sys/delete_channel (fact 4); Close returns nil at once, the connection
// stays up, and later channels work.
func TestMatrixChannelCloseDeployed(t *testing.T) {
	ds := startDeployedServer(t)
	conn := dialT(t, ds.Addr())
	for i := range 3 {
		ch, err := conn.NewChannel(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ch.Do(testCtx(t), "/echo", []byte("x")); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := ch.Close(); err != nil {
			t.Fatalf("close %d: %v", i, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("close %d took %v", i, d)
		}
		if _, err := ch.Do(testCtx(t), "/echo", []byte("x")); !errors.Is(err, ErrClosed) {
			t.Fatalf("call on a closed channel: %v, want ErrClosed", err)
		}
	}
	if got := conn.undeleted.Load(); got != 3 {
		t.Fatalf("%d channels wait for a delete answer, want 3", got)
	}
	if err := conn.Err(); err != nil {
		t.Fatalf("connection ended: %v", err)
	}
	ch, err := conn.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ch.Do(testCtx(t), "/echo?z=1", []byte("after")); err != nil || string(got) != "after" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// TestChannelCloseAnsweredWithoutCaps: a server without capabilities that
// does answer /sys/delete_channel (ours does not, as deployed ones do not);
// Close does not wait for it, and the late answer is consumed without
// breaking the connection.
func TestChannelCloseAnsweredWithoutCaps(t *testing.T) {
	ds := startDeployedServerWith(t, true)
	addr := ds.Addr()
	conn := dialT(t, addr)
	for range 3 {
		ch, err := conn.NewChannel(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Channel 0's answer comes after the earlier delete answers were read
	// (the server answers in order of reading, and the reader is one).
	if _, err := conn.Do(testCtx(t), "/echo", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if n := conn.undeleted.Load(); n != 0 {
		t.Fatalf("%d closed channels still wait for their answer", n)
	}
	ch, err := conn.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.Do(testCtx(t), "/echo", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := conn.Err(); err != nil {
		t.Fatalf("connection ended: %v", err)
	}
}

// TestSniffDeployedErrors pins which answers of a peer without typed
// errors are errors and with which code.
func TestSniffDeployedErrors(t *testing.T) {
	cases := []struct {
		body string
		code int // 0: data
	}{
		{`{"code":-1,"message":"handler fail:db down"}`, CodeHandler},
		{`{"code":-7,"message":"x"}`, CodeHandler},
		{`{"code":102,"message":"handle error"}`, CodeNoHandler},
		{`{"code":102,"message":"db down"}`, CodeHandler},
		{`{"code":101,"message":"handler panic"}`, CodeNoResponse},
		{`{"code":105,"message":"no handler for path /x"}`, CodeNoHandler},
		{`{"code":-1,"message":"x","data":1}`, 0},
		{`{"code":0,"message":"ok"}`, 0},
		{`{"code":7,"message":"ok"}`, 0},
		{`{"code":200,"message":"ok"}`, 0},
		{`{"code":-1}`, 0},
		{`{"code":"-1","message":"x"}`, 0},
		{`[1,2]`, 0},
	}
	for _, tc := range cases {
		e := sniffLegacyError([]byte(tc.body))
		switch {
		case tc.code == 0 && e != nil:
			t.Errorf("%s: error %v, want data", tc.body, e)
		case tc.code != 0 && (e == nil || e.Code != tc.code):
			t.Errorf("%s: %v, want code %d", tc.body, e, tc.code)
		}
	}
}

// TestDeployedClientAgainstOurServer: the deployed-client model (16 KiB
// buffers, 3 s frame deadline, local channel ids) against our server with
// default options: query paths and messages from 1 B to 64 MiB (16 and
// 17 MiB under -race, with largeFrameWriteTimeout), uploaded and echoed
// back. The server sizes the connection's receive buffer once it sees a
// client that offers no capabilities; with the system's autotuned buffer
// (SocketReadBuffer -1) the deployed client's 16 MiB upload misses its 3 s
// frame deadline on loopback.
func TestDeployedClientAgainstOurServer(t *testing.T) {
	_, addr := echoServer(t)
	lc := testkit.DialDeployedIIP(t, addr, testkit.DefaultTimeout)
	lc.WriteTimeout = largeFrameWriteTimeout
	ch, err := lc.NewChannel()
	if err != nil {
		t.Fatal(err)
	}
	sizes := []int{1, 1 << 20, 16 << 20, 17 << 20}
	if !matrixUnderRace {
		sizes = append(sizes, 64<<20)
	}
	for _, n := range sizes {
		data := pattern(n)
		f, err := lc.Do(ch, "/echo?x=1", data)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(f.Data, data) || (f.Path != "/echo?x=1" && f.Path != "/echo") {
			t.Fatalf("%d bytes: got %d bytes on path %q", n, len(f.Data), f.Path)
		}
	}
}

// TestDeployedClientUploadsToSizedServer: with Config.SocketReadBuffer
// set explicitly (at accept, before any request), the deployed-client
// model uploads messages over 16 MiB (continuation frames) within its 3 s
// frame deadline (largeFrameWriteTimeout under the race detector).
func TestDeployedClientUploadsToSizedServer(t *testing.T) {
	_, addr := echoServer(t, WithConfig(Config{SocketReadBuffer: deployedSocketReadBuffer}))
	lc := testkit.DialDeployedIIP(t, addr, testkit.DefaultTimeout)
	lc.WriteTimeout = largeFrameWriteTimeout
	ch, err := lc.NewChannel()
	if err != nil {
		t.Fatal(err)
	}
	data := pattern(17 << 20)
	f, err := lc.Do(ch, "/echo?x=1", data)
	if err != nil || !bytes.Equal(f.Data, data) {
		t.Fatalf("17 MiB: %d bytes back, err %v", len(f.Data), err)
	}
}

// TestMatrixDeployedClientAgainstOurServer: the deployed-client model
// against our server with default options gets every answer in the shape
// a deployed server sends (facts 3 and 4): a handler's error as
// {"code":-1,"message":"handler fail:..."}, an unknown path (also under
// /sys/) as {"code":102,"message":"handle error"}, an empty or panicking
// handler as code 101, and no answer to /sys/delete_channel.
func TestMatrixDeployedClientAgainstOurServer(t *testing.T) {
	s, addr := echoServer(t)
	s.HandleFunc("/fail", func(ctx context.Context, r *Request) ([]byte, error) { return nil, errors.New("db down") })
	s.HandleFunc("/empty", func(ctx context.Context, r *Request) ([]byte, error) { return nil, nil })
	s.HandleFunc("/panic", func(ctx context.Context, r *Request) ([]byte, error) { panic("boom") })
	s.HandleFunc("/coded", func(ctx context.Context, r *Request) ([]byte, error) {
		return nil, &Error{Code: CodeNoHandler, Message: "no such user"}
	})
	lc := dialDeployedClient(t, addr)
	ch, err := lc.NewChannel()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, want string
	}{
		{"echo with query", "/echo?x=1&y=%41", "{}"},
		{"handler error", "/fail", `{"code":-1,"message":"handler fail:db down"}`},
		{"handler error, query", "/fail?a=b", `{"code":-1,"message":"handler fail:db down"}`},
		{"unknown path", "/missing", `{"code":102,"message":"handle error"}`},
		{"unknown sys path", "/sys/nope", `{"code":102,"message":"handle error"}`},
		{"handler's own 105", "/coded", `{"code":102,"message":"handle error"}`},
		{"empty handler", "/empty", `{"code":101,"message":"handler returned no response for /empty"}`},
		{"panicking handler", "/panic", `{"code":101,"message":"handler panicked: boom"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := lc.Do(ch, tc.path, []byte("{}"))
			if err != nil || string(f.Data) != tc.want {
				t.Fatalf("got %q, %v; want %q", f.Data, err, tc.want)
			}
		})
	}
	// Our own client without capabilities maps the same answers back to
	// typed errors.
	conn := dialT(t, addr, WithConfig(Config{DisableCaps: true}))
	for path, want := range map[string]error{"/fail": ErrHandler, "/missing": ErrNoHandler, "/empty": ErrNoResponse, "/panic": ErrNoResponse} {
		if _, err := conn.Do(testCtx(t), path, nil); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", path, err, want)
		}
	}
	// /sys/delete_channel gets no answer: the next message the client
	// reads answers its next request, on another channel (lc.do fails on
	// an answer for channel ch).
	if err := lc.DeleteChannel(ch); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if f, err := lc.Do(0, "/echo", []byte("after")); err != nil || string(f.Data) != "after" {
			t.Fatalf("after delete: %q, %v", f.Data, err)
		}
	}
	next, err := lc.NewChannel()
	if err != nil || next != ch+1 {
		t.Fatalf("next channel %d, %v; want %d", next, err, ch+1)
	}
}
