package iip

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// The legacy-peer model: an IIP server and client written by hand over raw
// TCP that behave as the deployed peers (the protocol's original Go
// implementation) are observed to behave (issue #15, facts 1-7):
//
//  1. a response carries the request's path without its query string;
//  2. sockets have 16 KiB send and receive buffers, every frame is written
//     with a 3 s deadline and a write that misses it drops the connection;
//  3. a handler error is data {"code":-1,"message":"handler fail:..."}, an
//     unknown path {"code":102,"message":"handle error"}, an empty response
//     or a panic code 101;
//  4. /sys/delete_channel is never answered;
//  5. (load-balance lists: see the balanced-client tests);
//  6. (HTTP adapter headers: see httpadapter's tests);
//  7. a message up to 16 MiB is one frame, a larger one is split into
//     continuation frames of at most 16 MiB.
//
// The model answers the requests of a connection one after the other in
// its read loop (the deployed server runs channels concurrently; nothing
// the matrix checks depends on that).
const (
	legacySockBuf      = 16 << 10
	legacyWriteTimeout = 3 * time.Second
	legacyMaxFrame     = 16 << 20
	legacyMaxMessage   = 64 << 20
)

// deployedFrame is one frame as the model reads it.
type deployedFrame struct {
	status byte
	path   string
	ch     uint32
	data   []byte
}

// deployedPeerConn reads and writes frames the deployed way.
type deployedPeerConn struct {
	c  net.Conn
	br *bufio.Reader
}

func newDeployedPeerConn(c net.Conn) *deployedPeerConn {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(legacySockBuf)
		_ = tc.SetWriteBuffer(legacySockBuf)
	}
	return &deployedPeerConn{c: c, br: bufio.NewReaderSize(c, 16<<10)}
}

func (p *deployedPeerConn) readFrame() (deployedFrame, error) {
	var f deployedFrame
	st, err := p.br.ReadByte()
	if err != nil {
		return f, err
	}
	f.status = st
	path, err := p.br.ReadString(0)
	if err != nil {
		return f, err
	}
	if len(path) > MaxPathLen+1 {
		return f, fmt.Errorf("legacy: path of %d bytes", len(path))
	}
	f.path = path[:len(path)-1]
	var n [8]byte
	if _, err := io.ReadFull(p.br, n[:]); err != nil {
		return f, err
	}
	f.ch = binary.BigEndian.Uint32(n[:4])
	size := binary.BigEndian.Uint32(n[4:])
	if size == 0 || size > legacyMaxFrame {
		return f, fmt.Errorf("legacy: frame length %d", size)
	}
	f.data = make([]byte, size)
	_, err = io.ReadFull(p.br, f.data)
	return f, err
}

// readMessage reads frames until one message is complete; the first
// frame's status, path and channel describe it.
func (p *deployedPeerConn) readMessage() (deployedFrame, error) {
	f, err := p.readFrame()
	if err != nil || f.status == 8 || f.status == 1 || f.status == 5 {
		return f, err
	}
	if f.status != 0 && f.status != 4 {
		return f, fmt.Errorf("legacy: unexpected status %d", f.status)
	}
	for {
		g, err := p.readFrame()
		if err != nil {
			return f, err
		}
		if g.ch != f.ch || g.status != f.status+2 && g.status != f.status+3 {
			return f, fmt.Errorf("legacy: status %d on channel %d inside a message", g.status, g.ch)
		}
		if len(f.data)+len(g.data) > legacyMaxMessage {
			return f, fmt.Errorf("legacy: message over %d bytes", legacyMaxMessage)
		}
		f.data = append(f.data, g.data...)
		if g.status == f.status+3 {
			f.status++ // report it as complete
			return f, nil
		}
	}
}

// writeMessage writes data as one frame (status complete) or as frames of
// at most 16 MiB (first, continuations, last), each under its own 3 s
// deadline. first is 0 for a request, 4 for a response.
func (p *deployedPeerConn) writeMessage(first byte, path string, ch uint32, data []byte) error {
	for off := 0; ; {
		n := min(len(data)-off, legacyMaxFrame)
		var st byte
		switch {
		case off == 0 && n == len(data):
			st = first + 1
		case off == 0:
			st = first
		case off+n == len(data):
			st = first + 3
		default:
			st = first + 2
		}
		hdr := make([]byte, 0, len(path)+10)
		hdr = append(hdr, st)
		hdr = append(hdr, path...)
		hdr = append(hdr, 0)
		hdr = binary.BigEndian.AppendUint32(hdr, ch)
		hdr = binary.BigEndian.AppendUint32(hdr, uint32(n))
		_ = p.c.SetWriteDeadline(time.Now().Add(legacyWriteTimeout))
		bufs := net.Buffers{hdr, data[off : off+n]}
		if _, err := bufs.WriteTo(p.c); err != nil {
			return err
		}
		off += n
		if off == len(data) {
			return nil
		}
	}
}

// deployedServer is the deployed server model. Paths:
//
//	/echo        answers the request data
//	/fail        {"code":-1,"message":"handler fail:db down"}
//	/empty       {"code":101,...} (handler returned nothing)
//	/panic       {"code":101,...} (handler panicked)
//	/code-data   data that has a "code" key but is not an error shape
//	/looks-like-error  {"code":105,"message":"no handler","extra":1}: data
//	/big         "123456" in three frames (first, continuation, last)
//	anything else {"code":102,"message":"handle error"}
//
// /sys/new_channel is answered {"code":0,"channel_id":N} whatever its data;
// /sys/delete_channel is never answered.
type deployedServer struct {
	l     net.Listener
	mu    sync.Mutex
	paths []string
	conns map[net.Conn]bool
	wg    sync.WaitGroup
	// answerDeletes, set before the first connection, makes the model
	// answer /sys/delete_channel {"code":0} (a peer that does, unlike
	// deployed servers).
	answerDeletes bool
}

func startDeployedServer(t testing.TB) *deployedServer {
	t.Helper()
	return startDeployedServerWith(t, false)
}

// startDeployedServerWith starts the model; answerDeletes makes it answer
// /sys/delete_channel.
func startDeployedServerWith(t testing.TB, answerDeletes bool) *deployedServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ls := &deployedServer{l: l, conns: map[net.Conn]bool{}, answerDeletes: answerDeletes}
	ls.wg.Add(1)
	go func() {
		defer ls.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			ls.mu.Lock()
			ls.conns[c] = true
			ls.mu.Unlock()
			ls.wg.Add(1)
			go ls.serve(c)
		}
	}()
	t.Cleanup(ls.close)
	return ls
}

func (ls *deployedServer) addr() string { return ls.l.Addr().String() }

// close stops the model and waits for its goroutines.
func (ls *deployedServer) close() {
	_ = ls.l.Close()
	ls.mu.Lock()
	for c := range ls.conns {
		_ = c.Close()
	}
	ls.mu.Unlock()
	ls.wg.Wait()
}

func (ls *deployedServer) serve(c net.Conn) {
	defer ls.wg.Done()
	defer func() {
		_ = c.Close()
		ls.mu.Lock()
		delete(ls.conns, c)
		ls.mu.Unlock()
	}()
	p := newDeployedPeerConn(c)
	next := uint32(0)
	for {
		f, err := p.readMessage()
		if err != nil || f.status == 8 {
			return
		}
		if f.status != 1 {
			return // a response frame sent to a server
		}
		route := f.path
		if i := strings.IndexByte(route, '?'); i >= 0 {
			route = route[:i]
		}
		ls.mu.Lock()
		ls.paths = append(ls.paths, f.path)
		ls.mu.Unlock()
		var out []byte
		switch route {
		case PathNewChannel:
			next++
			out = fmt.Appendf(nil, `{"code":0,"channel_id":%d}`, next)
		case PathDeleteChannel:
			if !ls.answerDeletes {
				continue // fact 4: never answered
			}
			out = []byte(`{"code":0}`)
		case "/echo":
			out = f.data
		case "/fail":
			out = []byte(`{"code":-1,"message":"handler fail:db down"}`)
		case "/empty":
			out = []byte(`{"code":101,"message":"handler return empty"}`)
		case "/panic":
			out = []byte(`{"code":101,"message":"handler panic"}`)
		case "/code-data":
			out = []byte(`{"code":-1,"message":"not found","items":[]}`)
		case "/looks-like-error":
			out = []byte(`{"code":105,"message":"no handler","extra":1}`)
		case "/big":
			hdr := func(st byte, d string) []byte {
				b := append([]byte{st}, route...)
				b = append(b, 0)
				b = binary.BigEndian.AppendUint32(b, f.ch)
				b = binary.BigEndian.AppendUint32(b, uint32(len(d)))
				return append(b, d...)
			}
			_ = c.SetWriteDeadline(time.Now().Add(legacyWriteTimeout))
			if _, err := c.Write(append(hdr(4, "12"), append(hdr(6, "34"), hdr(7, "56")...)...)); err != nil {
				return
			}
			continue
		default:
			out = []byte(`{"code":102,"message":"handle error"}`)
		}
		// Fact 1: the response path is the request path without its query.
		if err := p.writeMessage(4, route, f.ch, out); err != nil {
			return // fact 2: a write that misses its deadline drops the connection
		}
	}
}

func (ls *deployedServer) seen() []string {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return append([]string(nil), ls.paths...)
}

// deployedClient is the deployed client model: it counts channel ids locally,
// sends {} to open them, writes each frame under a 3 s deadline with 16 KiB
// socket buffers, and waits for each response in turn.
type deployedClient struct {
	p    *deployedPeerConn
	next uint32
}

func dialDeployedClient(t testing.TB, addr string) *deployedClient {
	t.Helper()
	d := net.Dialer{Timeout: testTimeout}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &deployedClient{p: newDeployedPeerConn(c)}
}

// newChannel opens a channel and returns its locally counted id.
func (lc *deployedClient) newChannel() (uint32, error) {
	if _, err := lc.do(0, PathNewChannel, []byte("{}")); err != nil {
		return 0, err
	}
	lc.next++
	return lc.next, nil
}

// do sends one request and reads its response (within testTimeout).
func (lc *deployedClient) do(ch uint32, path string, data []byte) (deployedFrame, error) {
	if err := lc.p.writeMessage(0, path, ch, data); err != nil {
		return deployedFrame{}, err
	}
	_ = lc.p.c.SetReadDeadline(time.Now().Add(testTimeout))
	f, err := lc.p.readMessage()
	if err == nil && (f.status != 5 || f.ch != ch) {
		err = fmt.Errorf("legacy client: got status %d on channel %d", f.status, f.ch)
	}
	return f, err
}
