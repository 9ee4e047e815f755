package iip

import (
	"context"
	"fmt"
	"strings"
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
	sent    uint64 // requests written on the channel: the next one's seq
	closed  error
	drained func(*Channel, bool) // called once the pending calls are answered (true) or failed (false)

	// reader-only assembly state
	inActive   bool
	inTooLarge bool
	inBuf      []byte
	inPB       *[]byte // inBuf's pooled buffer, for a call that recycles
	inMarker   int     // typed-errors marker read apart from inBuf, or -1
	inSize     int
	inWant     int             // the size the response's first frame announced ("size-hint"), 0: none
	inStream   *ResponseStream // the response being read belongs to a DoStream call
	// A streamed response read whole (Do): the trailer byte of its last
	// frame (-1: none) and where that frame's data starts in inBuf.
	inTrailer   int
	inTrailerAt int
}

// call is one request waiting for its response.
type call struct {
	path   string
	seq    uint64 // the request's number on its channel, from 0 (cancel, goaway)
	pooled bool   // the caller copies the response out: read it into a pooled buffer
	done   chan struct{}
	resp   []byte
	pb     *[]byte // resp's pooled buffer, to put back once copied
	err    error
	stream *ResponseStream // DoStream: the response is handed out chunk by chunk
}

var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

func newChannel(c *Conn, id uint32) *Channel {
	return &Channel{conn: c, id: id, send: make(chan struct{}, 1), inMarker: -1, inTrailer: -1}
}

// ID returns the channel id.
func (ch *Channel) ID() uint32 { return ch.id }

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
// Config.ReadBufferSize is a slice of the connection's read buffer, read
// without a copy; keeping it keeps that buffer alive, so copy what is kept
// for long.
func (ch *Channel) Do(ctx context.Context, path string, data []byte) ([]byte, error) {
	resp, _, err := ch.do(ctx, path, data, false, nil)
	return resp, err
}

// DoAppend is Do that appends the response to dst and returns the
// extended slice (dst unchanged on error). The response is read into a
// recycled buffer and copied to dst, so a caller that reuses dst causes no
// allocation per call.
func (ch *Channel) DoAppend(ctx context.Context, path string, data, dst []byte) ([]byte, error) {
	resp, pb, err := ch.do(ctx, path, data, true, nil)
	return appendResponse(dst, resp, pb, err)
}

// appendResponse appends resp to dst and recycles its pooled buffer.
func appendResponse(dst, resp []byte, pb *[]byte, err error) ([]byte, error) {
	if err != nil {
		return dst, err
	}
	dst = append(dst, resp...)
	if pb != nil {
		putBuf(pb)
	}
	return dst, nil
}

// do is Do; with pooled, the response may come in a pooled buffer, which
// is returned with it for the caller to put back. With st (DoStream) it
// returns once the request is written: the reader hands the response to st.
func (ch *Channel) do(ctx context.Context, path string, data []byte, pooled bool, st *ResponseStream) ([]byte, *[]byte, error) {
	if err := checkPath(path); err != nil {
		return nil, nil, err
	}
	if len(data) > ch.conn.opts.MaxMessageSize {
		return nil, nil, fmt.Errorf("%w: request of %d bytes exceeds limit %d", ErrMessageTooLarge, len(data), ch.conn.opts.MaxMessageSize)
	}
	select {
	case ch.send <- struct{}{}:
	default:
		select {
		case ch.send <- struct{}{}:
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("iip: %s: %w", path, ctx.Err())
		}
	}
	var cl *call
	if st != nil {
		cl = &call{path: path, done: make(chan struct{}, 1), stream: st}
	} else {
		cl = callPool.Get().(*call)
		cl.path, cl.pooled = path, pooled
	}
	ch.mu.Lock()
	if err := ch.closed; err != nil {
		ch.mu.Unlock()
		<-ch.send
		cl.path, cl.pooled = "", false
		callPool.Put(cl)
		return nil, nil, &notSentError{path: path, err: err}
	}
	cl.seq = ch.sent
	ch.sent++
	if st != nil {
		st.seq = cl.seq
	}
	ch.pending = append(ch.pending, cl)
	ch.mu.Unlock()
	written, err := ch.conn.w.writeMessage(ctx, statusRequestFirst, path, ch.id, -1, ch.conn.sizeHint.Load(), data)
	if err != nil && !written {
		// Nothing went out: take the call back off the queue (it is the
		// tail, since we hold the send lock), unless a connection failure
		// already failed it.
		ch.mu.Lock()
		ch.sent--
		if n := len(ch.pending); n > ch.head && ch.pending[n-1] == cl {
			ch.pending[n-1] = nil
			ch.pending = ch.pending[:n-1]
			cl.path, cl.pooled = "", false
			callPool.Put(cl)
		}
		ch.mu.Unlock()
	}
	<-ch.send
	if err != nil {
		switch {
		case written:
			return nil, nil, fmt.Errorf("%w: writing %s: %v", ErrConnLost, path, err)
		case ctx.Err() != nil:
			return nil, nil, fmt.Errorf("iip: %s: %w", path, err)
		default:
			// The connection broke before any byte of this request left:
			// the server never saw it, so it may safely be sent elsewhere.
			cause := ch.conn.Err()
			if cause == nil {
				cause = fmt.Errorf("%w: %w", ErrConnLost, err)
			}
			return nil, nil, &notSentError{path: path, err: cause}
		}
	}
	if st != nil {
		return nil, nil, nil
	}
	select {
	case <-cl.done:
		resp, pb, err := cl.resp, cl.pb, cl.err
		cl.resp, cl.pb, cl.err, cl.path, cl.pooled = nil, nil, nil, "", false
		callPool.Put(cl)
		return resp, pb, err
	case <-ctx.Done():
		// The call stays queued; the reader drops its late response. A
		// server that accepted "cancel" ends the handler's context.
		if ch.conn.cancels != nil {
			ch.conn.sendCancel(ch.id, cl.seq)
		}
		return nil, nil, fmt.Errorf("iip: %s: %w", path, ctx.Err())
	}
}

// goAway fails the pending calls numbered from read on (the server did
// not read them) with an error wrapping ErrGoAway that Client resends
// elsewhere, and refuses new calls the same way. It returns how many it
// failed.
func (ch *Channel) goAway(read uint64) int {
	ch.mu.Lock()
	if ch.closed == nil {
		ch.closed = ErrGoAway
	}
	var failed []*call
	for i := ch.head; i < len(ch.pending); i++ {
		if ch.pending[i].seq >= read {
			failed = append(failed, ch.pending[i:]...)
			clear(ch.pending[i:])
			ch.pending = ch.pending[:i]
			break
		}
	}
	var drained func(*Channel, bool)
	if ch.head == len(ch.pending) {
		ch.pending, ch.head = ch.pending[:0], 0
		drained, ch.drained = ch.drained, nil
	}
	ch.mu.Unlock()
	for _, cl := range failed {
		cl.resp, cl.err = nil, &notSentError{path: cl.path, err: ErrGoAway}
		if cl.stream != nil {
			cl.stream.finish(cl.err)
		}
		cl.done <- struct{}{}
	}
	if drained != nil {
		drained(ch, false)
	}
	return len(failed)
}

// Close deletes the channel on the server with /sys/delete_channel and
// forgets it; later calls on the channel fail with ErrClosed. Closing
// channel 0 is a no-op.
//
// Toward a server that accepted the typed-errors capability (ours), Close
// waits for the answer (at most the dial timeout, WithDialTimeout) and fails the calls
// still pending with ErrClosed. Toward any other server Close does not
// wait: deployed IIP servers never answer /sys/delete_channel. It returns
// once the request is written (nil, or the write error); calls sent before
// it still get their answers, and the channel is forgotten when the delete
// is answered or the connection ends. At most maxUnansweredDeletes channels
// per connection wait like this; past that the peer evidently does not
// answer and a closed channel is forgotten at once.
func (ch *Channel) Close() error {
	if ch.id == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), ch.conn.opts.DialTimeout)
	defer cancel()
	if !ch.conn.typed.Load() {
		return ch.closeUnanswered(ctx)
	}
	_, err := ch.Do(ctx, pathDeleteChannel, nil)
	ch.failAll(ErrClosed)
	ch.conn.removeChannel(ch.id)
	return err
}

// maxUnansweredDeletes bounds the closed channels a connection without the
// typed-errors capability keeps while their /sys/delete_channel is
// unanswered (see Channel.Close): 64.
const maxUnansweredDeletes = 64

// closeUnanswered sends /sys/delete_channel without waiting for its answer.
// The channel refuses new calls at once; it stays known to the reader
// until its pending calls, the delete included, are answered, so that a
// server that does answer (ours without capabilities) breaks nothing.
func (ch *Channel) closeUnanswered(ctx context.Context) error {
	select {
	case ch.send <- struct{}{}:
	case <-ctx.Done():
		ch.failAll(ErrClosed)
		ch.conn.removeChannel(ch.id)
		return fmt.Errorf("iip: %s: %w", pathDeleteChannel, ctx.Err())
	}
	c := ch.conn
	keep := c.undeleted.Add(1) <= maxUnansweredDeletes
	if !keep {
		c.undeleted.Add(-1)
	}
	cl := &call{path: pathDeleteChannel, done: make(chan struct{}, 1)}
	ch.mu.Lock()
	if ch.closed != nil {
		ch.mu.Unlock()
		<-ch.send
		if keep {
			c.undeleted.Add(-1)
		}
		return nil // already closed
	}
	ch.closed = ErrClosed
	cl.seq = ch.sent
	ch.sent++
	if keep {
		ch.pending = append(ch.pending, cl)
		prev := ch.drained
		ch.drained = func(ch *Channel, ok bool) {
			if prev != nil {
				prev(ch, ok)
			}
			c.undeleted.Add(-1)
			c.removeChannel(ch.id)
		}
	}
	ch.mu.Unlock()
	_, err := c.w.writeMessage(ctx, statusRequestFirst, pathDeleteChannel, ch.id, -1, false, []byte(emptyData))
	<-ch.send
	if err != nil || !keep {
		ch.failAll(ErrClosed) // runs the drained hook when kept
		c.removeChannel(ch.id)
	}
	if err != nil {
		return fmt.Errorf("iip: %s: %w", pathDeleteChannel, err)
	}
	return nil
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

// checkHead verifies that a response path matches the oldest pending call
// and reports whether that call wants its response in a pooled buffer, or
// chunk by chunk (its stream).
func (ch *Channel) checkHead(path []byte) (pooled bool, st *ResponseStream, err error) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.head == len(ch.pending) {
		return false, nil, fmt.Errorf("%w: response for %q on channel %d with no request pending", ErrProtocol, truncate(path, 128), ch.id)
	}
	cl := ch.pending[ch.head]
	if !responsePathMatches(cl.path, path) {
		return false, nil, fmt.Errorf("%w: response path %q on channel %d does not match request path %q", ErrProtocol, truncate(path, 128), ch.id, cl.path)
	}
	return cl.pooled, cl.stream, nil
}

// inStreamed reports whether the response being assembled is a streamed
// one (first byte dataMarkerStreamed under typed errors).
func (ch *Channel) inStreamed() bool {
	return ch.conn.streamResp && ch.conn.typed.Load() && len(ch.inBuf) > 0 && ch.inBuf[0] == dataMarkerStreamed
}

// popHead takes the oldest pending call off the channel (its response has
// been handed out) and runs the drained hook when it was the last.
func (ch *Channel) popHead() {
	ch.mu.Lock()
	if ch.head == len(ch.pending) {
		ch.mu.Unlock()
		return
	}
	_, drained := ch.takeHeadLocked()
	ch.mu.Unlock()
	if drained != nil {
		drained(ch, true)
	}
}

// takeHeadLocked removes the oldest pending call (ch.mu held, at least one pending) and
// returns it, with the drained hook when it was the last: the caller runs the hook after
// unlocking.
func (ch *Channel) takeHeadLocked() (cl *call, drained func(*Channel, bool)) {
	cl = ch.pending[ch.head]
	ch.pending[ch.head] = nil
	ch.head++
	if ch.head == len(ch.pending) {
		ch.pending, ch.head = ch.pending[:0], 0
		drained, ch.drained = ch.drained, nil
	}
	return cl, drained
}

// responsePathMatches reports whether a response path fits its request's
// path: equal, or equal to the request path without its query string
// ("/echo" for "/echo?x=1"), which is what deployed IIP servers send back.
// The comparisons do not allocate.
func responsePathMatches(req string, resp []byte) bool {
	if req == string(resp) {
		return true
	}
	i := strings.IndexByte(req, '?')
	return i >= 0 && req[:i] == string(resp)
}

// deliver hands the assembled response to the oldest pending call.
func (ch *Channel) deliver() error {
	data, pb, marker, tooLarge, size := ch.inBuf, ch.inPB, ch.inMarker, ch.inTooLarge, ch.inSize
	trailer, trailerAt := ch.inTrailer, ch.inTrailerAt
	ch.inBuf, ch.inPB, ch.inMarker, ch.inTooLarge, ch.inSize, ch.inTrailer, ch.inWant = nil, nil, -1, false, 0, -1, 0
	var resp []byte
	var err error
	typed := ch.conn.typed.Load()
	if typed && marker < 0 && !tooLarge {
		marker, data = int(data[0]), data[1:]
	}
	switch {
	case tooLarge:
		err = fmt.Errorf("%w: response of %d bytes exceeds limit %d", ErrMessageTooLarge, size, ch.conn.opts.MaxMessageSize)
	case typed:
		switch byte(marker) {
		case dataMarkerOK:
			resp = data
		case dataMarkerError:
			err = parseWireError(data)
		case dataMarkerStreamed:
			switch {
			case !ch.conn.streamResp || trailer < 0:
				return fmt.Errorf("%w: streamed response on channel %d in one frame", ErrProtocol, ch.id)
			case byte(trailer) == dataMarkerOK:
				resp = data
			case byte(trailer) == dataMarkerError:
				err = parseWireError(data[trailerAt-1:])
			default:
				return fmt.Errorf("%w: streamed response on channel %d ends with unknown trailer %#x", ErrProtocol, ch.id, trailer)
			}
		default:
			return fmt.Errorf("%w: response on channel %d starts with unknown marker %#x", ErrProtocol, ch.id, marker)
		}
	default:
		if e := sniffLegacyError(data); e != nil {
			err = e
		} else {
			resp = data
		}
	}
	if err != nil && pb != nil {
		putBuf(pb)
		pb = nil
	}
	ch.mu.Lock()
	if ch.head == len(ch.pending) {
		// The call was failed meanwhile (connection or channel closed).
		ch.mu.Unlock()
		return nil
	}
	cl, drained := ch.takeHeadLocked()
	ch.mu.Unlock()
	cl.resp, cl.pb, cl.err = resp, pb, err
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
		if cl.stream != nil {
			cl.stream.finish(err)
		}
		cl.resp, cl.err = nil, err
		cl.done <- struct{}{}
	}
	if drained != nil {
		drained(ch, false)
	}
}
