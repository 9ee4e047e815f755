package iip

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// Streamed responses (capability "stream-response", PROTOCOL.md section 9):
// a handler registered with Server.HandleStreamResponse writes its response
// chunk by chunk; Channel.DoStream and Client.DoStream read it chunk by
// chunk, so that a large download is never held whole on either side.

// dataMarkerStreamed starts the first frame of a streamed response under
// typed errors: the message is a stream of frames whose last one starts
// with a trailer byte (dataMarkerOK: the rest is data; dataMarkerError: the
// rest is an error and the response failed).
const dataMarkerStreamed byte = 0x02

// StreamWriter writes the response of a handler registered with
// Server.HandleStreamResponse. Each Write
// sends its bytes at once, in frames of the connection's frame size, to a
// client that negotiated "stream-response"; toward any other client the
// response is collected (at most the server's Config.MaxMessageSize bytes) and
// sent as one ordinary response when the handler returns. A StreamWriter
// is valid only until its handler returns and must not be used by several
// goroutines at once.
type StreamWriter struct {
	c       *serverConn
	ch      *serverChannel
	it      *item
	live    bool   // the client reads streamed responses: frames go out at once
	started bool   // the first frame went out
	buf     []byte // collected response toward other clients
	n       int64  // bytes written by the handler
	err     error  // sticky write error
}

// Write sends p as the next part of the response. It returns an error
// wrapping ErrConnLost when the connection broke (the handler should
// return), or ErrMessageTooLarge when a client that does not read streamed
// responses would get more than MaxMessageSize bytes.
func (w *StreamWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !w.live {
		if len(w.buf)+len(p) > w.c.s.opts.MaxMessageSize {
			w.err = fmt.Errorf("%w: streamed response over %d bytes to a client that does not read streamed responses", ErrMessageTooLarge, w.c.s.opts.MaxMessageSize)
			return 0, w.err
		}
		w.buf = append(w.buf, p...)
		w.n += int64(len(p))
		return len(p), nil
	}
	fs := int(w.c.w.frameSize.Load())
	for off := 0; off < len(p); {
		st, marker, hint, room := statusResponseContinue, -1, int64(-1), fs
		if !w.started {
			st, marker, room = statusResponseFirst, int(dataMarkerStreamed), fs-1
			if w.it.sizeHint {
				hint, room = 0, room-sizeHintLen // the size is not known
			}
		}
		n := min(room, len(p)-off)
		fl := n + fs - room // the frame's data length: the marker and hint included
		if err := w.c.w.takeCredit(context.Background(), fl, w.started); err != nil {
			w.err = fmt.Errorf("%w: write streamed response: %v", ErrConnLost, err)
			w.c.closeFor(fmt.Errorf("write streamed response on channel %d: %w", w.ch.id, err))
			return off, w.err
		}
		if _, err := w.c.w.writeFrame(context.Background(), st, w.it.req.RawPath, w.ch.id, marker, hint, p[off:off+n], w.started); err != nil {
			w.err = fmt.Errorf("%w: write streamed response: %v", ErrConnLost, err)
			w.c.closeFor(fmt.Errorf("write streamed response on channel %d: %w", w.ch.id, err))
			return off, w.err
		}
		w.started = true
		off += n
		w.n += int64(n)
	}
	return len(p), nil
}

// HandleStreamResponse registers f for the exact path (see Handle): f
// handles a request whose response it writes to w chunk by chunk.
// Returning a non-nil error fails the response as a Handler's error does,
// even after parts of it were sent (the client's stream then ends with
// that error). Returning nil after writing nothing answers as a Handler
// returning no data does.
func (s *Server) HandleStreamResponse(path string, f func(ctx context.Context, req *Request, w *StreamWriter) error) {
	s.addRoute(&route{path: path, respStream: f})
}

// serveStreamResponse runs a HandleStreamResponse handler and ends its response. It
// returns the bytes written and the handler's error, for the statistics.
func (c *serverConn) serveStreamResponse(ch *serverChannel, it *item) (int64, error) {
	w := &StreamWriter{c: c, ch: ch, it: it, live: it.streamed}
	err := c.callStreamResponse(ch, it, w)
	if w.err != nil && !w.live {
		// Over MaxMessageSize toward a client that reads it whole.
		err = &Error{Code: CodeUnknown, Message: w.err.Error()}
	}
	switch {
	case !w.started:
		if w.err != nil && w.live {
			return w.n, err // the connection broke
		}
		c.respond(ch, it, w.buf, err)
	case w.err == nil:
		// The last frame: a trailer byte, then the error or nothing.
		trailer := []byte{dataMarkerOK}
		if err != nil {
			trailer = append([]byte{dataMarkerError}, marshalError(toWireError(err))...)
		}
		werr := c.w.takeCredit(context.Background(), len(trailer), true)
		if werr == nil {
			_, werr = c.w.writeFrame(context.Background(), statusResponseContinueEnd, it.req.RawPath, ch.id, -1, -1, trailer, true)
		}
		if werr != nil {
			c.closeFor(fmt.Errorf("write streamed response on channel %d: %w", ch.id, werr))
		}
	}
	return w.n, err
}

// callStreamResponse runs the handler as call runs a Handler: its panic
// is an error, its context is the channel's.
func (c *serverConn) callStreamResponse(ch *serverChannel, it *item, w *StreamWriter) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.s.log.Error("iip: handler panicked", "path", it.req.Path, "conn", c.id, "remote", c.remote, "panic", fmt.Sprint(p))
			err = &Error{Code: CodeHandler, Message: fmt.Sprintf("handler panicked: %v", p)}
			it.panicked = true
		}
	}()
	ch.mu.Lock()
	ctx := ch.ctx
	ch.mu.Unlock()
	if t := c.s.opts.timeouts.Handler; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	return it.route.respStream(ctx, &it.req, w)
}

// ResponseStream is the response of Channel.DoStream or Client.DoStream,
// read chunk by chunk with Next. Chunks are the data of the frames as they
// arrive (at most the negotiated frame size each from our server; a whole
// response in one chunk from servers that do not stream). Close it when
// done, or read until Next returns an error.
type ResponseStream struct {
	ch     *Channel
	seq    uint64
	chunks chan []byte
	done   chan struct{} // closed once the response ended; err says how
	err    error
	end    sync.Once
	quit   chan struct{} // closed by Close: the reader drops what follows
	quitMu sync.Once
	// after, set with onEnd, runs once the response has ended (Client
	// returns its channel to the pool).
	mu    sync.Mutex
	ended bool
	after func()
	// reader-only state
	streamed bool   // the server streams it (marker 0x02)
	errMode  bool   // the first frame's marker says error: collect the body
	errBuf   []byte // the error body being collected
}

// streamQueueResponses is how many chunks of a streamed response the
// connection's reader holds ahead of the caller's Next before it waits
// (and with it, the connection): 4.
const streamQueueResponses = 4

func newResponseStream(ch *Channel) *ResponseStream {
	return &ResponseStream{ch: ch, chunks: make(chan []byte, streamQueueResponses), done: make(chan struct{}), quit: make(chan struct{})}
}

// Next returns the next chunk of the response; io.EOF once all of it was
// read; the response's error (an *Error, ErrConnLost ...) when it failed;
// ctx's error when ctx ends first. The chunk belongs to the caller.
func (s *ResponseStream) Next(ctx context.Context) ([]byte, error) {
	select {
	case b := <-s.chunks:
		return b, nil
	default:
	}
	select {
	case b := <-s.chunks:
		return b, nil
	case <-s.done:
		select {
		case b := <-s.chunks:
			return b, nil
		default:
			return nil, s.err
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close abandons the rest of the response: the connection's reader drops
// it as it arrives, and a server that accepted "cancel" ends the
// handler's context. Close after the end does nothing. It returns nil.
func (s *ResponseStream) Close() error {
	s.quitMu.Do(func() {
		close(s.quit)
		select {
		case <-s.done:
		default:
			if c := s.ch.conn; c.cancels != nil {
				c.sendCancel(s.ch.id, s.seq)
			}
		}
	})
	return nil
}

// onEnd arranges for f to run once the response has ended (at once if it
// has).
func (s *ResponseStream) onEnd(f func()) {
	s.mu.Lock()
	if !s.ended {
		s.after = f
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	f()
}

// finish ends the stream with err (io.EOF: complete).
func (s *ResponseStream) finish(err error) {
	s.end.Do(func() {
		s.err = err
		close(s.done)
		s.mu.Lock()
		s.ended = true
		f := s.after
		s.after = nil
		s.mu.Unlock()
		if f != nil {
			f()
		}
	})
}

// push hands a chunk to the caller, waiting while streamQueueResponses
// chunks are unread; a chunk of a closed stream, or one that arrives as the
// connection ends, is dropped.
func (s *ResponseStream) push(b []byte, connDone <-chan struct{}) {
	if len(b) == 0 {
		return
	}
	select {
	case s.chunks <- b:
		return
	case <-s.quit:
	case <-connDone:
	}
}

// DoStream sends data to path and returns the response as a stream. It
// returns once the request is written; errors of the response come from
// Next. A server that does not stream answers in one chunk. Calls after it
// on the same channel wait until the stream has ended. ctx bounds the
// write of the request only; each Next has its own ctx.
func (ch *Channel) DoStream(ctx context.Context, path string, data []byte) (*ResponseStream, error) {
	st := newResponseStream(ch)
	if _, _, err := ch.do(ctx, path, data, false, st); err != nil {
		return nil, err
	}
	return st, nil
}

// readStreamFirst reads the first frame of a response for a DoStream call.
func (c *Conn) readStreamFirst(ch *Channel, st *ResponseStream, h frameHeader) error {
	data, err := c.fr.readPayload(int(h.Length))
	if err != nil {
		return err
	}
	complete := h.Status == statusResponse
	if c.typed.Load() {
		m := data[0]
		data = data[1:]
		switch m {
		case dataMarkerOK:
		case dataMarkerError:
			st.errMode = true
		case dataMarkerStreamed:
			if complete || !c.streamResp {
				return fmt.Errorf("%w: streamed-response marker on a %s on channel %d", ErrProtocol, h.Status, ch.id)
			}
			st.streamed = true
		default:
			return fmt.Errorf("%w: response on channel %d starts with unknown marker %#x", ErrProtocol, ch.id, m)
		}
	} else if complete {
		if e := sniffLegacyError(data); e != nil {
			return c.endStream(ch, st, e)
		}
	}
	if st.errMode {
		st.errBuf = append(st.errBuf[:0], data...)
	} else {
		st.push(data, c.done)
	}
	if complete {
		var err error
		if st.errMode {
			err = parseWireError(st.errBuf)
		}
		return c.endStream(ch, st, err)
	}
	ch.inActive, ch.inStream = true, st
	return nil
}

// readStreamNext reads a continuation frame of a DoStream call's response.
func (c *Conn) readStreamNext(ch *Channel, st *ResponseStream, h frameHeader) error {
	last := h.Status == statusResponseContinueEnd
	n := int(h.Length)
	var end error
	if last && st.streamed {
		var t [1]byte
		if err := c.fr.readData(t[:]); err != nil {
			return err
		}
		n--
		switch t[0] {
		case dataMarkerOK:
		case dataMarkerError:
			st.errMode = true
		default:
			return fmt.Errorf("%w: streamed response on channel %d ends with unknown trailer %#x", ErrProtocol, ch.id, t[0])
		}
	}
	if n > 0 {
		data, err := c.fr.readPayload(n)
		if err != nil {
			return err
		}
		switch {
		case st.errMode:
			if len(st.errBuf)+len(data) <= maxErrorBody {
				st.errBuf = append(st.errBuf, data...)
			}
		default:
			st.push(data, c.done)
		}
	}
	if !last {
		return nil
	}
	ch.inActive, ch.inStream = false, nil
	if st.errMode {
		end = parseWireError(st.errBuf)
	}
	return c.endStream(ch, st, end)
}

// maxErrorBody bounds the error body of a streamed response kept.
const maxErrorBody = 64 << 10

// endStream ends a DoStream call's response (err nil: complete) and takes
// its call off the channel.
func (c *Conn) endStream(ch *Channel, st *ResponseStream, err error) error {
	if err == nil {
		err = io.EOF
	}
	st.finish(err)
	ch.popHead()
	return nil
}

// DoStream sends data to path on a pooled channel and returns the response
// as a stream; see Channel.DoStream. The channel returns to the pool once
// the response has ended (read to its end, failed, or dropped after
// Close). A call whose request never left is retried as Do retries.
func (c *Client) DoStream(ctx context.Context, path string, data []byte) (*ResponseStream, error) {
	if err := checkPooledPath(path); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		ch, err := c.get(ctx)
		if err != nil {
			return nil, err
		}
		st := newResponseStream(ch)
		if _, _, err = ch.do(ctx, path, data, false, st); err == nil {
			st.onEnd(func() { c.put(ch) })
			return st, nil
		}
		c.put(ch)
		if !isNotSent(err) || attempt >= maxNotSentRetries {
			return nil, err
		}
	}
}
