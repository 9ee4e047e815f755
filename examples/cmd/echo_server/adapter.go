package main

import (
	"context"
	"log/slog"
	"net"
	"sync"

	"github.com/seed857a6cbd/pocket/examples/echo"
	"github.com/seed857a6cbd/pocket/examples/serving"
	"github.com/seed857a6cbd/pocket/httpadapter"
	"github.com/seed857a6cbd/pocket/iip"
)

// lazyClient is the adapter's IIP backend: it dials addr on the first call
// (the IIP listener is bound before, but served only once serving.Run
// runs) and again after a failed dial.
type lazyClient struct {
	addr string
	log  *slog.Logger

	mu     sync.Mutex
	client *iip.Client
}

// Do sends one call through the pooled client, dialing it if needed.
func (l *lazyClient) Do(ctx context.Context, path string, data []byte) ([]byte, error) {
	l.mu.Lock()
	c := l.client
	if c == nil {
		var err error
		c, err = iip.NewClientContext(ctx, l.addr, &iip.Options{Logger: l.log})
		if err != nil {
			l.mu.Unlock()
			return nil, err
		}
		l.client = c
	}
	l.mu.Unlock()
	return c.Do(ctx, path, data)
}

// Close closes the client, if it was dialed.
func (l *lazyClient) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.client == nil {
		return nil
	}
	return l.client.Close()
}

// adapterListeners returns the httpadapter listener at addr and what it
// needs: the HTTP requests it gets are forwarded as IIP calls to iipAddr,
// the public IIP listener, when that is plain TCP. With TLS the adapter
// cannot present a client certificate to it, so a second, plain IIP server
// with the same echo handlers is bound to a free loopback port for the
// adapter alone (its address line is "iip-internal"). The returned close
// function closes the backend client after the servers stopped.
func adapterListeners(addr string, iipAddr net.Addr, tlsOn bool, wrap func(net.Listener) net.Listener, log *slog.Logger) ([]serving.Listener, func(), error) {
	var ls []serving.Listener
	backendAddr := iipAddr.String()
	if tlsOn {
		internal := iip.NewServer(&iip.ServerOptions{Logger: log})
		echo.Register(internal)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		backendAddr = ln.Addr().String()
		ls = append(ls, serving.Listener{Name: "iip-internal", Listener: ln, Server: internal})
	}
	backend := &lazyClient{addr: backendAddr, log: log}
	adapter, err := httpadapter.NewServer(
		httpadapter.WithIIPRoute(httpadapter.Route{Name: "echo", Backend: backend}),
		httpadapter.WithLogger(log),
		httpadapter.WithAccessLog(false),
	)
	if err != nil {
		for _, l := range ls {
			l.Listener.Close()
		}
		return nil, nil, err
	}
	// The adapter comes last: serving.Run shuts down in reverse order, so
	// it stops before the IIP server it calls.
	ls = append(ls, serving.Listener{Name: "adapter", Addr: addr, Server: adapter, Wrap: wrap})
	return ls, func() { backend.Close() }, nil
}
