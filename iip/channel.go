package iip

import (
	"context"
	"fmt"
	"sync"
)

// Channel is one logical channel of a Conn. Requests on a channel are
// answered in order; Do may be called concurrently (calls are pipelined
// and matched first-in first-out), but a slow request delays the ones
// behind it, so use a channel per concurrent caller or a Client.
type Channel struct {
	conn *Conn
	id   uint32
	send chan struct{} // held while a request is queued and written

	mu      sync.Mutex
	pending []*call
	head    int
	closed  error
	drained func(*Channel, bool) // called once the pending calls are answered (true) or failed (false)

	// reader-only assembly state
	inActive   bool
	inTooLarge bool
	inBuf      []byte
	inSize     int
}

// call is one request waiting for its response.
type call struct {
	path string
	done chan struct{}
	resp []byte
	err  error
}

var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

func newChannel(c *Conn, id uint32) *Channel {
	return &Channel{conn: c, id: id, send: make(chan struct{}, 1)}
}

// ID returns the channel id.
func (ch *Channel) ID() uint32 { return ch.id }

// Conn returns the connection of the channel.
func (ch *Channel) Conn() *Conn { return ch.conn }

// Do sends data to path and waits for the response. Empty data is sent as
// "{}", because a zero data length is illegal on the wire. The context's
// deadline is the call's timeout: when it ends, Do returns its error and
// the late response is read and dropped, so later calls still get their
// own responses. An error response is returned as an *Error (errors.Is
// with ErrNoHandler and the other sentinels works); a broken connection as
// an error wrapping ErrConnLost. A request that could only be partly
// written closes the connection instead of leaving the channel misaligned.
//
// The response belongs to the caller. A response from 1/16 to 1/2 of
// Options.ReadBufferSize is a slice of the connection's read buffer, read
// without a copy; keeping it keeps that buffer alive, so copy what is kept
// for long.
func (ch *Channel) Do(ctx context.Context, path string, data []byte) ([]byte, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if len(data) > ch.conn.opts.MaxMessageSize {
		return nil, fmt.Errorf("%w: request of %d bytes exceeds limit %d", ErrMessageTooLarge, len(data), ch.conn.opts.MaxMessageSize)
	}
	select {
	case ch.send <- struct{}{}:
	default:
		select {
		case ch.send <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("iip: %s: %w", path, ctx.Err())
		}
	}
	cl := callPool.Get().(*call)
	cl.path = path
	ch.mu.Lock()
	if err := ch.closed; err != nil {
		ch.mu.Unlock()
		<-ch.send
		callPool.Put(cl)
		return nil, &notSentError{path: path, err: err}
	}
	ch.pending = append(ch.pending, cl)
	ch.mu.Unlock()
	written, err := ch.conn.w.writeMessage(ctx, StatusRequestFirst, path, ch.id, -1, data)
	if err != nil && !written {
		// Nothing went out: take the call back off the queue (it is the
		// tail, since we hold the send lock), unless a connection failure
		// already failed it.
		ch.mu.Lock()
		if n := len(ch.pending); n > ch.head && ch.pending[n-1] == cl {
			ch.pending[n-1] = nil
			ch.pending = ch.pending[:n-1]
			cl.path = ""
			callPool.Put(cl)
		}
		ch.mu.Unlock()
	}
	<-ch.send
	if err != nil {
		switch {
		case written:
			return nil, fmt.Errorf("%w: writing %s: %v", ErrConnLost, path, err)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("iip: %s: %w", path, err)
		default:
			// The connection broke before any byte of this request left:
			// the server never saw it, so it may safely be sent elsewhere.
			cause := ch.conn.Err()
			if cause == nil {
				cause = fmt.Errorf("%w: %w", ErrConnLost, err)
			}
			return nil, &notSentError{path: path, err: cause}
		}
	}
	select {
	case <-cl.done:
		resp, err := cl.resp, cl.err
		cl.resp, cl.err, cl.path = nil, nil, ""
		callPool.Put(cl)
		return resp, err
	case <-ctx.Done():
		// The call stays queued; the reader drops its late response.
		return nil, fmt.Errorf("iip: %s: %w", path, ctx.Err())
	}
}

// Close deletes the channel on the server with /sys/delete_channel and
// forgets it. Closing channel 0 is a no-op.
func (ch *Channel) Close() error {
	if ch.id == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), ch.conn.opts.DialTimeout)
	defer cancel()
	_, err := ch.Do(ctx, PathDeleteChannel, nil)
	ch.failAll(ErrClosed)
	ch.conn.removeChannel(ch.id)
	return err
}

// usable reports whether the channel can take calls.
func (ch *Channel) usable() bool {
	ch.mu.Lock()
	closed := ch.closed
	ch.mu.Unlock()
	return closed == nil && ch.conn.Err() == nil
}

// notSentError is the error of a call whose request never left because
// its connection had broken; Client.Do retries such a call elsewhere.
type notSentError struct {
	path string
	err  error
}

func (e *notSentError) Error() string { return "iip: " + e.path + " not sent: " + e.err.Error() }
func (e *notSentError) Unwrap() error { return e.err }

// checkHead verifies that a response path matches the oldest pending call.
func (ch *Channel) checkHead(path []byte) error {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.head == len(ch.pending) {
		return fmt.Errorf("%w: response for %q on channel %d with no request pending", ErrProtocol, truncate(path, 128), ch.id)
	}
	if want := ch.pending[ch.head].path; want != string(path) {
		return fmt.Errorf("%w: response path %q on channel %d does not match request path %q", ErrProtocol, truncate(path, 128), ch.id, want)
	}
	return nil
}

// deliver hands the assembled response to the oldest pending call.
func (ch *Channel) deliver() error {
	data, tooLarge, size := ch.inBuf, ch.inTooLarge, ch.inSize
	ch.inBuf, ch.inTooLarge, ch.inSize = nil, false, 0
	var resp []byte
	var err error
	switch {
	case tooLarge:
		err = fmt.Errorf("%w: response of %d bytes exceeds limit %d", ErrMessageTooLarge, size, ch.conn.opts.MaxMessageSize)
	case ch.conn.typed.Load():
		switch data[0] {
		case dataMarkerOK:
			resp = data[1:]
		case dataMarkerError:
			err = parseWireError(data[1:])
		default:
			return fmt.Errorf("%w: response on channel %d starts with unknown marker %#x", ErrProtocol, ch.id, data[0])
		}
	default:
		if e := sniffLegacyError(data); e != nil {
			err = e
		} else {
			resp = data
		}
	}
	ch.mu.Lock()
	cl := ch.pending[ch.head]
	ch.pending[ch.head] = nil
	ch.head++
	var drained func(*Channel, bool)
	if ch.head == len(ch.pending) {
		ch.pending, ch.head = ch.pending[:0], 0
		drained, ch.drained = ch.drained, nil
	}
	ch.mu.Unlock()
	cl.resp, cl.err = resp, err
	cl.done <- struct{}{}
	if drained != nil {
		drained(ch, true)
	}
	return nil
}

// whenDrained arranges for f to be called once every pending call has
// been answered (or failed), and reports true; it reports false, without
// arranging anything, when nothing is pending.
func (ch *Channel) whenDrained(f func(*Channel, bool)) bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.head == len(ch.pending) || ch.closed != nil {
		return false
	}
	ch.drained = f
	return true
}

// failAll fails every pending call and refuses new ones.
func (ch *Channel) failAll(err error) {
	ch.mu.Lock()
	if ch.closed == nil {
		ch.closed = err
	}
	p := ch.pending[ch.head:]
	ch.pending, ch.head = nil, 0
	drained := ch.drained
	ch.drained = nil
	ch.mu.Unlock()
	for _, cl := range p {
		cl.resp, cl.err = nil, err
		cl.done <- struct{}{}
	}
	if drained != nil {
		drained(ch, false)
	}
}
