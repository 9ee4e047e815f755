package iip

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/iip/internal/testkit"
)

// rawConn plays an existing IIP peer: it writes hand-built frames and
// parses frames by hand, without the package's codec.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func rawDial(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

// rawServer listens on loopback and hands the first connection it accepts,
// with a deadline of testTimeout, to serve, a hand-written peer; the
// listener is closed and serve waited for at cleanup.
func rawServer(t *testing.T, serve func(r *rawConn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(testTimeout))
		serve(&rawConn{t: t, c: c, br: bufio.NewReader(c)})
	}()
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return l.Addr().String()
}

// rawFrame builds a frame byte by byte.
func rawFrame(status byte, path string, ch uint32, data string) []byte {
	b := []byte{status}
	b = append(b, path...)
	b = append(b, 0)
	var n [8]byte
	binary.BigEndian.PutUint32(n[0:4], ch)
	binary.BigEndian.PutUint32(n[4:8], uint32(len(data)))
	b = append(b, n[:]...)
	return append(b, data...)
}

func (r *rawConn) send(b []byte) {
	r.t.Helper()
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatalf("raw write: %v", err)
	}
}

type rawResp struct {
	status byte
	path   string
	ch     uint32
	data   string
}

func (r *rawConn) read() (rawResp, error) {
	var f rawResp
	st, err := r.br.ReadByte()
	if err != nil {
		return f, err
	}
	f.status = st
	p, err := r.br.ReadString(0)
	if err != nil {
		return f, err
	}
	f.path = p[:len(p)-1]
	var n [8]byte
	if _, err := io.ReadFull(r.br, n[:]); err != nil {
		return f, err
	}
	f.ch = binary.BigEndian.Uint32(n[0:4])
	data := make([]byte, binary.BigEndian.Uint32(n[4:8]))
	if _, err := io.ReadFull(r.br, data); err != nil {
		return f, err
	}
	f.data = string(data)
	return f, nil
}

func (r *rawConn) expect(want rawResp) {
	r.t.Helper()
	got, err := r.read()
	if err != nil {
		r.t.Fatalf("reading %+v: %v", want, err)
	}
	if got != want {
		r.t.Fatalf("got frame %+v\nwant       %+v", got, want)
	}
}

// expectClosed waits for the server to close the connection.
func (r *rawConn) expectClosed() {
	r.t.Helper()
	for {
		f, err := r.read()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "reset") {
				return
			}
			r.t.Fatalf("waiting for close: %v", err)
		}
		if f.status == byte(statusClose) {
			continue
		}
	}
}

func compatServer(t *testing.T, log *logBuffer) string {
	t.Helper()
	var opts []ServerOption
	if log != nil {
		opts = append(opts, WithLogger(slogTo(log)))
	}
	s, addr := echoServer(t, opts...)
	s.HandleFunc("/nothing", func(ctx context.Context, r *Request) ([]byte, error) { return nil, nil })
	s.HandleFunc("/fail", func(ctx context.Context, r *Request) ([]byte, error) { return nil, errors.New("db down") })
	s.HandleFunc("/panic", func(ctx context.Context, r *Request) ([]byte, error) { panic("boom") })
	s.HandleFunc("/query", func(ctx context.Context, r *Request) ([]byte, error) {
		return []byte(r.Path + " key=" + r.Query.Get("key")), nil
	})
	s.HandleStream("/stream", func(ctx context.Context, r *StreamRequest) ([]byte, error) {
		var parts []string
		for {
			b, err := r.Next(ctx)
			if err == io.EOF {
				return []byte(strings.Join(parts, "|")), nil
			}
			if err != nil {
				return nil, err
			}
			parts = append(parts, string(b))
		}
	})
	return addr
}

// TestLegacyClientAgainstOurServer drives our server with byte-exact frames
// as an existing client sends them.
func TestLegacyClientAgainstOurServer(t *testing.T) {
	addr := compatServer(t, nil)
	r := rawDial(t, addr)

	// /sys/new_channel with {} on channel 0, written out byte by byte.
	r.send([]byte("\x01/sys/new_channel\x00\x00\x00\x00\x00\x00\x00\x00\x02{}"))
	r.expect(rawResp{5, "/sys/new_channel", 0, `{"code":0,"channel_id":1}`})
	r.send(rawFrame(1, "/sys/new_channel", 0, "{}"))
	r.expect(rawResp{5, "/sys/new_channel", 0, `{"code":0,"channel_id":2}`})

	cases := []struct {
		name string
		send []byte
		want rawResp
	}{
		{"echo", []byte("\x01/echo\x00\x00\x00\x00\x01\x00\x00\x00\x05hello"), rawResp{5, "/echo", 1, "hello"}},
		{"query repeated in response path", rawFrame(1, "/query?key=x%20y", 2, "{}"), rawResp{5, "/query?key=x%20y", 2, "/query key=x y"}},
		{"no handler", rawFrame(1, "/missing", 1, "{}"), rawResp{5, "/missing", 1, `{"code":102,"message":"handle error"}`}},
		{"no response", rawFrame(1, "/nothing", 1, "{}"), rawResp{5, "/nothing", 1, `{"code":101,"message":"handler returned no response for /nothing"}`}},
		{"handler error", rawFrame(1, "/fail", 1, "{}"), rawResp{5, "/fail", 1, `{"code":-1,"message":"handler fail:db down"}`}},
		{"panic", rawFrame(1, "/panic", 1, "{}"), rawResp{5, "/panic", 1, `{"code":101,"message":"handler panicked: boom"}`}},
		{"continuation frames", append(rawFrame(0, "/echo", 1, "ab"), append(rawFrame(2, "/echo", 1, "cd"), rawFrame(3, "/echo", 1, "ef")...)...), rawResp{5, "/echo", 1, "abcdef"}},
		{"streaming handler", append(rawFrame(0, "/stream", 2, "ab"), append(rawFrame(2, "/stream", 2, "cd"), rawFrame(3, "/stream", 2, "ef")...)...), rawResp{5, "/stream", 2, "ab|cd|ef"}},
		{"sys ping", rawFrame(1, "/sys/ping", 0, "{}"), rawResp{5, "/sys/ping", 0, `{"code":0}`}},
		{"unknown sys path", rawFrame(1, "/sys/nope", 0, "{}"), rawResp{5, "/sys/nope", 0, `{"code":102,"message":"handle error"}`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r.t = t
			r.send(tc.send)
			r.expect(tc.want)
		})
	}
	r.t = t

	// Pipelined requests on one channel are answered in order, while
	// another channel is served independently.
	var batch []byte
	for i := range 5 {
		batch = append(batch, rawFrame(1, "/echo", 1, fmt.Sprint("m", i))...)
	}
	r.send(batch)
	for i := range 5 {
		r.expect(rawResp{5, "/echo", 1, fmt.Sprint("m", i)})
	}

	// delete_channel is not answered (deployed servers never answer it),
	// and the channel is gone: a request on it afterwards is a protocol
	// error that closes this connection.
	r.send(rawFrame(1, "/sys/delete_channel", 2, "{}"))
	// The next id is 3: freed ids are never reused. The next answer read
	// is this one, not one for the delete.
	r.send(rawFrame(1, "/sys/new_channel", 0, "{}"))
	r.expect(rawResp{5, "/sys/new_channel", 0, `{"code":0,"channel_id":3}`})
	r.send(rawFrame(1, "/echo", 2, "late"))
	r.expectClosed()
}

// TestLegacyClientUsesChannelBeforeAnswer: existing clients count ids
// locally and may use a channel before the new_channel answer arrives.
func TestLegacyClientUsesChannelBeforeAnswer(t *testing.T) {
	addr := compatServer(t, nil)
	r := rawDial(t, addr)
	r.send(append(rawFrame(1, "/sys/new_channel", 0, "{}"), rawFrame(1, "/echo", 1, "early")...))
	first, err := r.read()
	if err != nil {
		t.Fatal(err)
	}
	second, err := r.read()
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint32]rawResp{first.ch: first, second.ch: second}
	if got[0].data != `{"code":0,"channel_id":1}` || got[1].data != "early" {
		t.Fatalf("got %+v and %+v", first, second)
	}
}

func TestLegacyClientCloseFrame(t *testing.T) {
	addr := compatServer(t, nil)
	r := rawDial(t, addr)
	r.send(rawFrame(1, "/echo", 0, "x"))
	r.expect(rawResp{5, "/echo", 0, "x"})
	r.send(rawFrame(8, "", 0, "{}"))
	r.expectClosed()
}

// TestOurClientAgainstLegacyServer proves our client works with a server
// that knows nothing of our capabilities: the deployed-server model
// (deployed_peer_test.go), which accepts none, numbers channels itself and
// records every path it reads. Besides the deployed error shapes, a server
// of this kind may answer in plain JSON with one of our own codes, here
// 105 (no handler): /no-handler-105 sends that body, as a server would for
// a path it has no handler for.
func TestOurClientAgainstLegacyServer(t *testing.T) {
	h := deployedHandlers()
	h["/no-handler-105"] = func(*testkit.DeployedIIPRequest) ([]byte, error) {
		return []byte(`{"code":105,"message":"no handler for /no-handler-105"}`), nil
	}
	ds := testkit.StartDeployedIIP(t, testkit.DeployedIIPConfig{Handlers: h})
	c := dialT(t, ds.Addr(), WithKeepalive(time.Millisecond))
	if caps := c.acceptedCaps(); len(caps) != 0 {
		t.Fatalf("legacy server accepted caps %v", caps)
	}
	ch, err := c.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if ch.ID() != 1 {
		t.Fatalf("channel id %d, want 1", ch.ID())
	}
	ch2, err := c.NewChannel(testCtx(t))
	if err != nil || ch2.ID() != 2 {
		t.Fatalf("second channel %v %v", ch2, err)
	}
	cases := []struct {
		name    string
		path    string
		data    string
		want    string
		wantErr error
	}{
		{"echo", "/echo", "hello", "hello", nil},
		{"empty data goes as {}", "/echo", "", "{}", nil},
		{"continuation frames", "/big", "{}", "123456", nil},
		{"plain JSON error, our code 105", "/no-handler-105", "{}", "", ErrNoHandler},
		{"plain JSON error, deployed 102", "/missing", "{}", "", ErrNoHandler},
		{"error-like data stays data", "/looks-like-error", "{}", `{"code":105,"message":"no handler","extra":1}`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ch.Do(testCtx(t), tc.path, []byte(tc.data))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	// No capability traffic beyond the data of the first new_channel, and
	// no keepalive toward an existing server.
	for _, p := range ds.Seen() {
		if strings.HasPrefix(p, "/sys/") && p != "/sys/new_channel" {
			t.Fatalf("client sent %s to a legacy server", p)
		}
	}
}

// TestOurClientDisableCaps sends exactly what an existing client sends.
func TestOurClientDisableCaps(t *testing.T) {
	s, addr := echoServer(t)
	_ = s
	c := dialT(t, addr, WithConfig(Config{DisableCaps: true}))
	ch, err := c.NewChannel(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ch.Do(testCtx(t), "/missing", nil)
	if !errors.Is(err, ErrNoHandler) {
		t.Fatalf("err %v", err)
	}
	if len(c.acceptedCaps()) != 0 {
		t.Fatal("caps negotiated with DisableCaps")
	}
}

// scriptedServer answers the capability handshake with caps and then
// answers the next request with the raw bytes of reply.
func scriptedServer(t *testing.T, caps string, reply func(req rawResp) []byte) string {
	return rawServer(t, func(r *rawConn) {
		f, err := r.read()
		if err != nil {
			return
		}
		_, _ = r.c.Write(rawFrame(5, f.path, f.ch, `{"code":0,"channel_id":1`+caps+`}`))
		if f, err = r.read(); err != nil {
			return
		}
		_, _ = r.c.Write(reply(f))
		for {
			if _, err := r.read(); err != nil {
				return
			}
		}
	})
}

// TestClientRejectsBadServerFrames: a server that breaks the protocol
// loses its connection; the pending call fails with ErrConnLost and
// ErrProtocol, never with someone else's data.
func TestClientRejectsBadServerFrames(t *testing.T) {
	typed := `,"caps":["typed-errors"]`
	cases := []struct {
		name  string
		caps  string
		reply func(req rawResp) []byte
	}{
		{"path mismatch", "", func(q rawResp) []byte { return rawFrame(5, "/other", q.ch, "x") }},
		{"unknown channel", "", func(q rawResp) []byte { return rawFrame(5, q.path, 9, "x") }},
		{"no request pending", "", func(q rawResp) []byte {
			return append(rawFrame(5, q.path, q.ch, "x"), rawFrame(5, q.path, 0, "y")...)
		}},
		{"request frame from server", "", func(q rawResp) []byte { return rawFrame(1, q.path, q.ch, "x") }},
		{"continuation without first", "", func(q rawResp) []byte { return rawFrame(7, q.path, q.ch, "x") }},
		{"first while incomplete", "", func(q rawResp) []byte {
			return append(rawFrame(4, q.path, q.ch, "x"), rawFrame(5, q.path, q.ch, "y")...)
		}},
		{"zero length", "", func(q rawResp) []byte { return rawFrame(5, q.path, q.ch, "") }},
		{"bad marker", typed, func(q rawResp) []byte { return rawFrame(5, q.path, q.ch, "\x07x") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := scriptedServer(t, tc.caps, tc.reply)
			c := dialT(t, addr)
			ch, err := c.NewChannel(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			_, err = ch.Do(testCtx(t), "/echo", []byte("q"))
			if tc.name == "no request pending" {
				// The first answer is fine; the stray one breaks the connection.
				if err != nil {
					t.Fatal(err)
				}
				<-c.Done()
				err = c.Err()
			}
			if !errors.Is(err, ErrConnLost) || !errors.Is(err, ErrProtocol) {
				t.Fatalf("err %v, want ErrConnLost and ErrProtocol", err)
			}
		})
	}
}
