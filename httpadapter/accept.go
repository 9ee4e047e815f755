package httpadapter

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"
)

// Backoff of temporary Accept errors in Serve (the values net/http uses): the first retry
// waits AcceptBackoffMin, each next one twice as long, up to AcceptBackoffMax.
const (
	AcceptBackoffMin = 5 * time.Millisecond
	AcceptBackoffMax = time.Second
)

// retryListener waits out the temporary errors of Accept with a backoff and logs a burst of
// them once when it starts (Warn) and once when it ends (Info), so that a peer exhausting the
// process's descriptors neither stops Serve nor floods the log.
type retryListener struct {
	net.Listener
	log       *slog.Logger
	closed    chan struct{}
	closeOnce sync.Once
}

func newRetryListener(l net.Listener, log *slog.Logger) *retryListener {
	return &retryListener{Listener: l, log: log, closed: make(chan struct{})}
}

// Accept returns the next connection; Close ends a backoff wait at once.
func (l *retryListener) Accept() (net.Conn, error) {
	var delay time.Duration
	failures := 0
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			if failures > 0 {
				l.log.Info("httpadapter: accepting again", "addr", l.Addr().String(), "failed_accepts", failures)
			}
			return c, nil
		}
		if !temporaryAcceptError(err) {
			return nil, err
		}
		if failures++; failures == 1 {
			l.log.Warn("httpadapter: accept failed; retrying with backoff", "addr", l.Addr().String(), "err", err,
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

// temporaryAcceptError reports whether an Accept error is worth retrying: out of
// descriptors (EMFILE, ENFILE) or memory (ENOBUFS, ENOMEM), a connection aborted or reset
// before it was accepted, an interrupted call, a timeout, or an error that says it is
// temporary. A closed listener is not.
func temporaryAcceptError(err error) bool {
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
