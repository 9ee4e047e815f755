package filetransfer

import (
	"errors"
	"strings"

	"github.com/seed857a6cbd/pocket/iip"
)

// Sentinel errors; servers send them as IIP handler errors (code 102)
// whose message starts with the sentinel's text, and clients turn such
// messages back into errors that match with errors.Is.
var (
	// ErrBadName: the name is empty, absolute, contains "..", a NUL or (for
	// uploads) a directory, or ends in PartSuffix.
	ErrBadName = errors.New("filetransfer: bad file name")
	// ErrNotFound: no such file under the server's root.
	ErrNotFound = errors.New("filetransfer: file not found")
	// ErrNotRegular: the name is a directory or another non-regular file.
	ErrNotRegular = errors.New("filetransfer: not a regular file")
	// ErrBadArgument: a query argument is missing or out of range.
	ErrBadArgument = errors.New("filetransfer: bad argument")
	// ErrOffset: an upload write's offset is not the size the server has.
	ErrOffset = errors.New("filetransfer: offset does not match stored size")
	// ErrChecksum: the SHA-256 of the transferred bytes differs from the
	// expected one; the partial file has been removed.
	ErrChecksum = errors.New("filetransfer: sha256 mismatch")
	// ErrSize: the transferred size differs from the expected one.
	ErrSize = errors.New("filetransfer: size mismatch")
)

var sentinels = []error{ErrBadName, ErrNotFound, ErrNotRegular, ErrBadArgument, ErrOffset, ErrChecksum, ErrSize}

// remoteError is the error a server's handler error message stands for.
type remoteError struct {
	sentinel error
	err      error // the *iip.Error as returned by the client
}

func (e *remoteError) Error() string { return "filetransfer: server: " + e.err.Error() }

func (e *remoteError) Unwrap() []error { return []error{e.sentinel, e.err} }

// fromRemote maps an IIP error response whose message starts with one of
// our sentinels back to that sentinel; other errors are returned as they are.
func fromRemote(err error) error {
	var ie *iip.Error
	if !errors.As(err, &ie) || ie.Code != iip.CodeHandler {
		return err
	}
	for _, s := range sentinels {
		if strings.HasPrefix(ie.Message, s.Error()) {
			return &remoteError{sentinel: s, err: err}
		}
	}
	return err
}

// transient reports whether a failed call may succeed when repeated: the
// connection broke, the server could not be reached or timed out. Errors
// the server's handler returned and local misuse are permanent.
func transient(err error) bool {
	var ie *iip.Error
	if errors.As(err, &ie) {
		switch ie.Code {
		case iip.CodeTimeout, iip.CodeServerConnLimit, iip.CodeClientConnLimit, iip.CodeChannelLimit:
			return true
		}
		return false
	}
	switch {
	case errors.Is(err, iip.ErrClosed), errors.Is(err, iip.ErrBadPath), errors.Is(err, iip.ErrMessageTooLarge):
		return false
	}
	return true
}
