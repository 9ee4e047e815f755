package iip

import (
	"context"
	"fmt"
)

// Streamed responses (capability "stream-response", PROTOCOL.md section 9):
// a handler registered with Server.HandleStreamResponse writes its response
// chunk by chunk; Channel.DoStream and Client.DoStream (client_stream.go)
// read it chunk by chunk, so that a large download is never held whole on
// either side.

// StreamWriter writes the response of a handler registered with
// Server.HandleStreamResponse. Each Write sends its bytes at once, in
// frames of the connection's frame size, to a client that negotiated
// "stream-response"; toward any other client the response is collected (at
// most the server's Config.MaxMessageSize bytes) and sent as one ordinary
// response when the handler returns. A StreamWriter
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
			err = c.handlerPanicked(it, p)
		}
	}()
	ctx, cancel := c.handlerContext(ch)
	defer cancel()
	return it.route.respStream(ctx, &it.req, w)
}
