package iip

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// The client side of streamed responses (capability "stream-response",
// PROTOCOL.md section 9): Channel.DoStream and Client.DoStream read a
// response chunk by chunk; the server side is in server_stream.go.

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
		if !isNotSent(err) || attempt >= c.notSentRetries {
			return nil, err
		}
	}
}
