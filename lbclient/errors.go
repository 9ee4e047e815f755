package lbclient

import "errors"

// Sentinel errors returned (wrapped with %w) by this package. Test them with errors.Is.
var (
	// ErrBadTarget is wrapped by every error about a malformed target or target entry.
	ErrBadTarget = errors.New("lbclient: bad target")
	// ErrNoBackends is returned by Pick, Do and Begin when the balancer has no backend at all.
	ErrNoBackends = errors.New("lbclient: no backends")
	// ErrClosed is returned by Pick, Do, Begin and Refresh after Close.
	ErrClosed = errors.New("lbclient: balancer closed")
	// ErrResolve is wrapped by DNS and file resolution errors (lookup failed,
	// no usable record, unreadable file).
	ErrResolve = errors.New("lbclient: resolve")
	// ErrBadOption is wrapped by New's error when an option has an invalid value.
	ErrBadOption = errors.New("lbclient: bad option")
	// ErrPanicked is passed to the outcome of a Do call whose function panicked
	// (the panic is then re-raised); it counts as a backend failure.
	ErrPanicked = errors.New("lbclient: call panicked")
)

// NotSent marks err as the error of a call that provably never reached its
// backend (no connection could be had, or the backend refused the call
// before processing any of it): Do and Begin then try the call again, on
// another backend when the set has one, else on the same one (see
// WithPickAttempts). Return it from the function given to Do or
// Begin; a call that may have reached the backend must not be marked. Do,
// Begin and Lease.Done remove the mark: callers and the WithBackendFailure
// classifier see err itself. NotSent(nil) is nil.
func NotSent(err error) error {
	if err == nil {
		return nil
	}
	return &notSentError{err}
}

// IsNotSent reports whether err carries NotSent's mark (as returned by the call,
// before Do, Begin or Lease.Done remove it).
func IsNotSent(err error) bool {
	_, ok := err.(*notSentError)
	return ok
}

type notSentError struct{ err error }

func (e *notSentError) Error() string { return e.err.Error() }
func (e *notSentError) Unwrap() error { return e.err }

// unmark returns err without its NotSent mark and whether it had one.
func unmark(err error) (error, bool) {
	if ns, ok := err.(*notSentError); ok {
		return ns.err, true
	}
	return err, false
}
