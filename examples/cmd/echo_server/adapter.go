package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"sync"

	"github.com/seed857a6cbd/pocket/examples/echo"
	"github.com/seed857a6cbd/pocket/examples/serving"
	"github.com/seed857a6cbd/pocket/examples/tlsfiles"
	"github.com/seed857a6cbd/pocket/httpadapter"
	"github.com/seed857a6cbd/pocket/iip"
)

// lazyClient is the adapter's IIP backend: it dials addr on the first call
// (the IIP listener is bound before, but served only once serving.Run
// runs) and again after a failed dial. tlsConfig, when set, is the client
// side of the internal listener's private mutual TLS.
type lazyClient struct {
	addr      string
	tlsConfig *tls.Config
	log       *slog.Logger

	mu     sync.Mutex
	client *iip.Client
}

// Do sends one call through the pooled client, dialing it if needed.
func (l *lazyClient) Do(ctx context.Context, path string, data []byte) ([]byte, error) {
	l.mu.Lock()
	c := l.client
	if c == nil {
		var err error
		c, err = iip.NewClient(ctx, l.addr, iip.WithTLS(l.tlsConfig), iip.WithLogger(l.log))
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
// cannot present a client certificate to it, so a second IIP server with
// the same echo handlers is bound to a free loopback port for the adapter
// alone (its address line is "iip-internal"). That listener speaks mutual
// TLS with a key made in memory at start (tlsfiles.Ephemeral): no other
// process can call it, so it bypasses neither TLS nor --client-ca. Only
// with plainInternal (--insecure-internal-iip) is it plain TCP, which any
// local process can use to skip TLS and mutual TLS; that is logged as a
// warning. The returned close function closes the backend client after the
// servers stopped.
func adapterListeners(addr string, iipAddr net.Addr, tlsOn, plainInternal bool, wrap func(net.Listener) net.Listener, log *slog.Logger) ([]serving.Listener, func(), error) {
	var ls []serving.Listener
	backendAddr := iipAddr.String()
	var clientTLS *tls.Config
	if tlsOn {
		var serverTLS *tls.Config
		if plainInternal {
			log.Warn("iip-internal serves the echo handlers over plain TCP on loopback: any local process can call them without TLS or a client certificate (--" + flagInsecureInternal + ")")
		} else {
			var err error
			if serverTLS, clientTLS, err = tlsfiles.Ephemeral(net.IPv4(127, 0, 0, 1)); err != nil {
				return nil, nil, err
			}
		}
		internal, err := iip.NewServer(iip.WithTLS(serverTLS), iip.WithLogger(log))
		if err != nil {
			return nil, nil, err
		}
		echo.Register(internal)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		backendAddr = ln.Addr().String()
		ls = append(ls, serving.Listener{Name: "iip-internal", Listener: ln, Server: internal})
	}
	backend := &lazyClient{addr: backendAddr, tlsConfig: clientTLS, log: log}
	adapter, err := httpadapter.NewServer(
		httpadapter.WithIIPRoute(httpadapter.Route{Name: "echo", Backend: backend}),
		httpadapter.WithLogger(log),
		httpadapter.WithAccessLog(false),
		// Prometheus metrics of the adapter (requests by route and HTTP code, errors by
		// the error body's code, durations, in flight) on the adapter's own port.
		httpadapter.WithMetricsPath("/metrics"),
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
