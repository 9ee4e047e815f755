// Package serving runs the example servers: it listens on every address
// first (so that a busy port fails at once), prints each bound address,
// serves until the context ends (SIGINT or SIGTERM in the commands) and
// then shuts every server down gracefully.
package serving

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/seed857a6cbd/pocket/httpadapter"
	"github.com/seed857a6cbd/pocket/iip"
)

// DefaultGrace is how long Run waits for in-flight requests at shutdown
// before closing connections.
const DefaultGrace = 10 * time.Second

// Server is what Run drives; *iip.Server and *http.Server satisfy it.
type Server interface {
	Serve(l net.Listener) error
	Shutdown(ctx context.Context) error
}

// Listener is one server on one address.
type Listener struct {
	// Name appears in the address line: "NAME listening on HOST:PORT".
	Name string
	// Addr is the TCP address to listen on; port 0 picks a free port,
	// which the address line tells.
	Addr string
	// Listener, when set, is an already bound listener to serve instead of
	// listening on Addr (for a server whose address another one needs
	// before Run starts). Run closes it.
	Listener net.Listener
	// Server serves the listener.
	Server Server
	// Wrap, when set, wraps the listener before Serve (for example with
	// tls.NewListener for an *http.Server).
	Wrap func(net.Listener) net.Listener
}

// Run listens on every Listener's address, writes one line per listener to
// out ("NAME listening on HOST:PORT", in the order given, once all are
// bound), serves until ctx ends or a server fails, then shuts all servers
// down within grace (DefaultGrace when 0), in the reverse order (list a
// backend before the front that calls it). It returns the first serving
// error, or nil after a shutdown caused by ctx.
//
// Temporary Accept errors never reach the servers, so they never stop the
// process: running out of descriptors (EMFILE, ENFILE), of buffers (ENOBUFS,
// ENOMEM) or a connection aborted before it was accepted (ECONNABORTED) is
// retried on that listener (httpadapter.RetryListener: a backoff from 5 ms
// doubling to 1 s, logged once per burst, a Warn when it starts and an Info
// when a connection is accepted again), and serving goes on when
// descriptors come back. Any other serving error is fatal: it shuts every
// server down and Run returns it.
func Run(ctx context.Context, out io.Writer, log *slog.Logger, grace time.Duration, ls ...Listener) error {
	if grace <= 0 {
		grace = DefaultGrace
	}
	lns := make([]net.Listener, 0, len(ls))
	for _, l := range ls {
		ln, err := l.Listener, error(nil)
		if ln == nil {
			ln, err = net.Listen("tcp", l.Addr)
		}
		if err != nil {
			for _, o := range lns {
				o.Close()
			}
			closePrebound(ls[len(lns):])
			return fmt.Errorf("serving: %s: %w", l.Name, err)
		}
		lns = append(lns, ln)
	}
	for i, l := range ls {
		if _, err := fmt.Fprintf(out, "%s listening on %s\n", l.Name, lns[i].Addr()); err != nil {
			for _, o := range lns {
				o.Close()
			}
			return fmt.Errorf("serving: %w", err)
		}
	}

	failed := make(chan error, len(ls))
	var wg sync.WaitGroup
	for i, l := range ls {
		ln := httpadapter.RetryListener(lns[i], l.Name, log)
		if l.Wrap != nil {
			ln = l.Wrap(ln)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := l.Server.Serve(ln)
			if err != nil && !errors.Is(err, iip.ErrServerClosed) && !errors.Is(err, http.ErrServerClosed) {
				failed <- fmt.Errorf("serving: %s: %w", l.Name, err)
			}
		}()
	}

	var err error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "grace", grace)
	case err = <-failed:
		log.Error("server failed; shutting down", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	for i := len(ls) - 1; i >= 0; i-- {
		l := ls[i]
		if serr := l.Server.Shutdown(sctx); serr != nil {
			log.Warn("shutdown was not graceful", "server", l.Name, "err", serr)
		}
	}
	wg.Wait()
	return err
}

// closePrebound closes the pre-bound listeners of ls.
func closePrebound(ls []Listener) {
	for _, l := range ls {
		if l.Listener != nil {
			l.Listener.Close()
		}
	}
}
