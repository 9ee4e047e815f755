package lbclient

import "errors"

// Sentinel errors returned (wrapped with %w) by this package. Test them with errors.Is.
var (
	// ErrBadTarget is wrapped by every error about a malformed target or target entry.
	ErrBadTarget = errors.New("lbclient: bad target")
	// ErrNoBackends is returned by Pick and Do when the balancer has no backend at all.
	ErrNoBackends = errors.New("lbclient: no backends")
	// ErrClosed is returned by Pick, Do and Refresh after Close.
	ErrClosed = errors.New("lbclient: balancer closed")
	// ErrResolve is wrapped by DNS and file resolution errors (lookup failed,
	// no usable record, unreadable file).
	ErrResolve = errors.New("lbclient: resolve")
	// ErrBadOption is wrapped by New's error when an option has an invalid value.
	ErrBadOption = errors.New("lbclient: bad option")
	// errBackendGone is internal: the picked backend was removed before the call began;
	// Pick retries on the new backend set.
	errBackendGone = errors.New("lbclient: backend removed")
	// errRepick is internal: the backend was ejected while the call waited
	// for a slot in its pool; Pick picks again instead of waiting on it.
	errRepick = errors.New("lbclient: backend ejected while waiting")
	// ErrPanicked is passed to the outcome of a Do call whose function panicked
	// (the panic is then re-raised); it counts as a backend failure.
	ErrPanicked = errors.New("lbclient: call panicked")
)
