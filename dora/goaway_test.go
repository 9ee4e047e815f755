package dora_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/internal/testkit"
)

// holdProxy forwards loopback TCP connections: the first to backends[0], later ones to
// backends[1]. While holding, the server-to-client bytes of the first connection are read
// but not passed on, so a test can make the client send after the server said GOAWAY and
// before the client heard it.
type holdProxy struct {
	ln       net.Listener
	backends [2]string
	n        atomic.Int32

	holding  atomic.Bool
	release  chan struct{} // closed: pass the held bytes on
	heldDown chan struct{} // gets a value for each held server-to-client read
	sentUp   chan struct{} // gets a value for each client-to-server read while holding

	once  sync.Once
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func startHoldProxy(t *testing.T, first, later string) *holdProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holdProxy{ln: ln, backends: [2]string{first, later}, release: make(chan struct{}),
		heldDown: make(chan struct{}, 64), sentUp: make(chan struct{}, 64)}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *holdProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		first := p.n.Add(1) == 1
		addr := p.backends[1]
		if first {
			addr = p.backends[0]
		}
		s, err := net.Dial("tcp", addr)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.copy(s, c, first, false) // client to server
		go p.copy(c, s, first, true)  // server to client
	}
}

// copy forwards src to dst through a queue, so that reading goes on while held bytes wait.
func (p *holdProxy) copy(dst, src net.Conn, first, down bool) {
	defer p.wg.Done()
	type chunk struct {
		b    []byte
		held bool
	}
	queue := make(chan chunk, 1024)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer dst.Close()
		for c := range queue {
			if c.held {
				<-p.release
			}
			if _, err := dst.Write(c.b); err != nil {
				for range queue { // let the reader finish
				}
				return
			}
		}
	}()
	defer close(queue)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			holding := first && p.holding.Load()
			queue <- chunk{b: append([]byte(nil), buf[:n]...), held: holding && down}
			switch {
			case holding && down:
				p.heldDown <- struct{}{}
			case holding:
				p.sentUp <- struct{}{}
			}
		}
		if err != nil {
			return
		}
	}
}

// releaseHeld passes the held bytes on (once).
func (p *holdProxy) releaseHeld() { p.once.Do(func() { close(p.release) }) }

func (p *holdProxy) close() {
	p.releaseHeld()
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// A call sent on a session the server has already said GOAWAY on (but whose GOAWAY the
// client had not read yet) never reaches a handler; the plain client sends it again on a
// new session instead of failing it, as grpc-go retries such calls transparently.
func TestCallRefusedByGoAwayIsSentAgain(t *testing.T) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	old := startServer(t, blockingImpl(started, release))
	fresh := startServer(t, &echoImpl{onSay: func(_ context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
		return &echo.SayResponse{Text: "fresh:" + in.Text}, nil
	}})
	px := startHoldProxy(t, old.addr, fresh.addr)
	ec := echo.NewEchoClient(newTestClient(t, px.ln.Addr().String(), dora.WithMaxConns(1)))

	inflight := make(chan error, 1)
	go func() {
		_, err := ec.Say(testCtx(t), &echo.SayRequest{Text: "block"})
		inflight <- err
	}()
	testkit.Recv(t, started, testTimeout, "the first call to reach its handler")

	px.holding.Store(true)
	stopped := make(chan error, 1)
	go func() { stopped <- old.srv.GracefulStop(testCtx(t)) }()
	testkit.Recv(t, px.heldDown, testTimeout, "the old server's GOAWAY")

	second := make(chan *echo.SayResponse, 1)
	secondErr := make(chan error, 1)
	go func() {
		r, err := ec.Say(testCtx(t), &echo.SayRequest{Text: "again"})
		second <- r
		secondErr <- err
	}()
	testkit.Recv(t, px.sentUp, testTimeout, "the second call's request on the old session")
	px.releaseHeld()

	if err := <-secondErr; err != nil {
		t.Fatalf("call refused by GOAWAY: %v, want it served by the new server", err)
	}
	if r := <-second; r.GetText() != "fresh:again" {
		t.Fatalf("second call answered %q, want %q", r.GetText(), "fresh:again")
	}
	close(release)
	if err := <-inflight; err != nil {
		t.Fatalf("call in flight during the stop: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("GracefulStop: %v", err)
	}
}
