package httpadapter

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"
)

// Backoff of temporary Accept errors in Serve and RetryListener (the values net/http uses): the first retry
// waits AcceptBackoffMin, each next one twice as long, up to AcceptBackoffMax.
const (
	AcceptBackoffMin = 5 * time.Millisecond
	AcceptBackoffMax = time.Second
)

// RetryListener wraps l so that its Accept waits out temporary errors (see
// TemporaryAcceptError) with a backoff from AcceptBackoffMin doubling to AcceptBackoffMax,
// and logs a burst of them once when it starts (Warn "accept failed; retrying with backoff")
// and once when it ends (Info "accepting again"), both with the attribute listener=name. A
// server above it (net/http's, or any other) therefore never sees such an error: a peer
// exhausting the process's descriptors neither stops it nor floods the log. Server.Serve
// wraps its listener this way; the example servers wrap theirs. Close ends a wait at once.
// A nil log is slog.Default() (pass slog.New(slog.DiscardHandler) to discard).
func RetryListener(l net.Listener, name string, log *slog.Logger) net.Listener {
	if log == nil {
		log = slog.Default()
	}
	return &retryListener{Listener: l, name: name, log: log, closed: make(chan struct{})}
}

// retryListener is RetryListener's listener.
type retryListener struct {
	net.Listener
	name      string
	log       *slog.Logger
	closed    chan struct{}
	closeOnce sync.Once
}

// Accept returns the next connection; Close ends a backoff wait at once.
func (l *retryListener) Accept() (net.Conn, error) {
	var delay time.Duration
	failures := 0
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			if failures > 0 {
				l.log.Info("accepting again", "listener", l.name, "addr", l.Addr().String(), "failed_accepts", failures)
			}
			return c, nil
		}
		if !TemporaryAcceptError(err) {
			return nil, err
		}
		if failures++; failures == 1 {
			l.log.Warn("accept failed; retrying with backoff", "listener", l.name, "addr", l.Addr().String(), "err", err,
				"backoff_min", AcceptBackoffMin, "backoff_max", AcceptBackoffMax)
		}
		delay = min(max(2*delay, AcceptBackoffMin), AcceptBackoffMax)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-l.closed:
			t.Stop()
			return l.Listener.Accept() // the closed listener's own error
		}
	}
}

// Close closes the listener and ends a backoff wait in Accept.
func (l *retryListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// TemporaryAcceptError reports whether an Accept error is worth retrying: out of
// descriptors (EMFILE, ENFILE) or memory (ENOBUFS, ENOMEM), a connection aborted or reset
// before it was accepted (ECONNABORTED, ECONNRESET), an interrupted call, a timeout, or an
// error that says it is temporary. A closed listener (net.ErrClosed) is not.
func TemporaryAcceptError(err error) bool {
	if err == nil || errors.Is(err, net.ErrClosed) {
		return false
	}
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR, syscall.EAGAIN} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}
