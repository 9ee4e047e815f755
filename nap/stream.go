package nap

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// Stream is one bidirectional sequence of messages inside a Session. Send
// and Recv may be used concurrently with each other (one sender and one
// receiver goroutine; concurrent Sends are serialised). Always finish a
// stream: SendAndClose/CloseSend plus Recv until io.EOF, Reset, or Close.
type Stream struct {
	id    uint32 // 0 until the first frame of a stream we opened is sent
	sess  *Session
	local bool // we opened it

	// everything below is guarded by sess.mu
	sendCond sync.Cond
	recvCond sync.Cond

	// send side
	sendWindow int64
	sendHead   []byte // the message being sent is sendHead followed by sendBuf (SendV)
	sendBuf    []byte
	sendOff    int    // bytes of the message scheduled
	sendEnd    bool   // the message being sent ends the stream
	sendNoMsg  bool   // CloseSend: an END_STREAM frame without message
	sending    bool   // a Send is in progress
	inReady    bool   // in sess.ready
	winBlocked bool   // waits for a stream WINDOW_UPDATE
	inFlight   int    // frames handed to the writer, not yet written
	sendClosed bool   // CloseSend/SendAndClose called
	sentEnd    bool   // the END_STREAM frame was scheduled
	sentRst    bool   // we reset the stream (or answered the peer's reset)
	sendTick   int64  // watchdog tick of the send's last progress (WriteTimeout)
	sendSeq    uint64 // the message's place in the order of Sends on the session (Session.sendSeq)

	// receive side
	recvWindow  int64
	credit      int64 // consumed, not yet returned with WINDOW_UPDATE
	queue       [][]byte
	inline      [1][]byte
	partialLen  int   // bytes of the message being assembled
	held        int64 // capacity of this stream's messages counted in sess.held (assembling + queued)
	partialCap  int   // capacity of the message being assembled (copy of cap(partial) for the budgets)
	partialWant int   // size announced for the message being assembled (flag SIZE), 0: none
	promised    int64 // partialWant when its window was credited in advance (creditAnnouncedLocked), counted in sess.promised
	headCredit  int   // bytes of the head message (or partial) already credited
	recvWaiting bool
	recvEnd     bool   // the peer half-closed
	recvRst     bool   // the peer reset the stream
	partial     []byte // the read loop's, except that failLocked drops it when the loop is not reading into it (sess.readingInto)

	legacy  bool
	removed bool
	err     error // why the stream failed: *StreamError, or a GOAWAY refusal

	ctx    context.Context
	cancel context.CancelCauseFunc
}

func (st *Stream) localDone() bool  { return st.sentEnd || st.sentRst }
func (st *Stream) remoteDone() bool { return st.recvEnd || st.recvRst }

// ID returns the stream ID. For a stream opened with OpenStream it is 0
// until the first message (or CloseSend) has been handed to the connection:
// IDs are assigned in the order streams appear on the wire.
func (st *Stream) ID() uint32 {
	st.sess.mu.Lock()
	defer st.sess.mu.Unlock()
	return st.id
}

// Session returns the session the stream belongs to.
func (st *Stream) Session() *Session { return st.sess }

// Context returns a context cancelled when the stream is reset (by either
// side), the session dies or Close is called; context.Cause tells why (a
// *StreamError, the session error, or ErrStreamClosed after Close). A stream
// that finishes normally keeps it until Close.
func (st *Stream) Context() context.Context {
	s := st.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.ctx == nil {
		st.ctx, st.cancel = context.WithCancelCause(context.Background())
		if err := st.failErrLocked(); err != nil {
			st.cancel(err)
		}
	}
	return st.ctx
}

// failErrLocked returns why the stream can no longer be used, nil if it can.
func (st *Stream) failErrLocked() error {
	if st.err != nil {
		return st.err
	}
	if st.sess.closed {
		return st.sessErrLocked()
	}
	return nil
}

func (st *Stream) sessErrLocked() error {
	return &streamSessionError{id: st.id, err: st.sess.err}
}

// streamSessionError is the error of a stream whose session died.
type streamSessionError struct {
	id  uint32
	err error
}

func (e *streamSessionError) Error() string {
	return fmt.Sprintf("nap: stream %d: %s", e.id, trimPrefix(e.err.Error()))
}

func (e *streamSessionError) Unwrap() error { return e.err }

// failLocked records err as the stream's failure and wakes its waiters.
func (st *Stream) failLocked(err error) {
	if st.err != nil {
		return
	}
	st.err = err
	// Drop what was received and not read.
	clear(st.queue)
	st.queue = st.inline[:0]
	st.partialLen, st.headCredit, st.partialCap, st.partialWant = 0, 0, 0, 0
	st.sess.unpromiseLocked(st)
	if st.sess.readingInto != st {
		st.partial = nil // else the read loop drops it when the frame is read
	}
	if st.held != 0 {
		st.sess.heldLocked(-st.held)
		st.held = 0
	}
	if st.cancel != nil {
		st.cancel(err)
	}
	st.sendCond.Broadcast()
	st.recvCond.Broadcast()
}

// sessionClosedLocked wakes the stream's waiters when the session dies.
func (st *Stream) sessionClosedLocked() {
	if st.cancel != nil && st.err == nil {
		st.cancel(st.sessErrLocked())
	}
	st.sendCond.Broadcast()
	st.recvCond.Broadcast()
}

// resetLocked resets the stream locally with code and tells the peer.
func (st *Stream) resetLocked(code ErrorCode, reason string) {
	s := st.sess
	if st.err != nil || st.removed {
		return
	}
	st.failLocked(&StreamError{StreamID: st.id, Code: code, Reason: reason})
	if !st.legacy && st.id != 0 && !s.closed {
		s.ctrl = appendRstStream(s.ctrl, st.id, code)
		s.queueCtrlLocked()
	}
	st.sentRst = true
	if st.legacy {
		st.sentEnd = true
	}
	s.maybeRemoveLocked(st)
}

// Send sends msg as one whole message, split into frames as needed, and
// blocks until it has been handed to the connection (flow control may make
// it wait for the peer to read). msg may be reused after Send returns. A
// Send that makes no progress for WriteTimeout (the peer grants no credit or
// does not read) fails with an error matching ErrWriteTimeout and the stream
// is reset with CodeWriteTimeout.
// Errors: ErrStreamClosed after CloseSend; a *StreamError after a reset; an
// error matching ErrMessageTooLarge when msg exceeds the peer's
// MaxMessageSize (the stream is then reset); ErrSessionClosed (wrapping the
// cause) when the session dies. On a legacy stream Send writes exactly one
// frame (at most 64 KiB) and ends the stream.
func (st *Stream) Send(msg []byte) error { return st.send(nil, msg, false, false) }

// SendV sends head followed by body as one message, without copying them
// into one buffer: on plain TCP the frames go out with one vectored write
// (writev) of frame headers, head and body; over TLS they are copied once,
// into the write buffer, as Send does. It is for a caller that builds a small
// envelope around a large payload. Neither slice may be modified until SendV
// returns. Errors as for Send; the size limits apply to the whole message.
func (st *Stream) SendV(head, body []byte) error { return st.send(head, body, false, false) }

// SendAndCloseV is SendV for the last message, with the half-close in the
// same frame (SendAndClose).
func (st *Stream) SendAndCloseV(head, body []byte) error {
	if len(head)+len(body) == 0 {
		return st.SendAndClose(nil)
	}
	return st.send(head, body, true, false)
}

// SendAndClose sends msg as the last message and half-closes in the same
// frame (unary calls). Errors as for Send.
func (st *Stream) SendAndClose(msg []byte) error {
	if len(msg) == 0 {
		if err := st.send(nil, nil, false, false); err != nil {
			return err
		}
		return st.send(nil, nil, true, true)
	}
	return st.send(nil, msg, true, false)
}

// CloseSend half-closes: no more messages from this side; the peer's Recv
// returns io.EOF after the last one. Calling it twice returns ErrStreamClosed.
// On a legacy stream it does nothing (the answer ends the stream).
func (st *Stream) CloseSend() error {
	st.sess.mu.Lock()
	legacy := st.legacy
	st.sess.mu.Unlock()
	if legacy {
		return nil
	}
	return st.send(nil, nil, true, true)
}

func (st *Stream) send(head, msg []byte, end, noMsg bool) error {
	s := st.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	for st.sending && st.failErrLocked() == nil {
		st.sendCond.Wait()
	}
	if err := st.failErrLocked(); err != nil {
		return err
	}
	if st.sendClosed {
		return fmt.Errorf("nap: stream %d: send after close: %w", st.id, ErrStreamClosed)
	}
	if st.legacy {
		if len(head)+len(msg) > LegacyMaxMessageSize {
			return fmt.Errorf("nap: stream %d: message of %d bytes exceeds the legacy limit %d: %w",
				st.id, len(head)+len(msg), LegacyMaxMessageSize, ErrMessageTooLarge)
		}
		end, noMsg = true, false
	} else if uint64(len(head)+len(msg)) > uint64(s.peer.maxMessageSize) {
		reason := fmt.Sprintf("message of %d bytes exceeds the peer's limit %d", len(head)+len(msg), s.peer.maxMessageSize)
		st.resetLocked(CodeMessageTooLarge, reason)
		return st.err
	}
	if end {
		st.sendClosed = true
	}
	st.sendHead, st.sendBuf, st.sendOff, st.sendEnd, st.sendNoMsg = head, msg, 0, end, noMsg
	st.sending = true
	st.sendTick = s.tick
	s.sendSeq++
	st.sendSeq = s.sendSeq
	st.winBlocked = false
	s.enqueueLocked(st)
	s.writeDirectLocked()
	for st.sending && st.failErrLocked() == nil {
		st.sendCond.Wait()
	}
	for st.inFlight > 0 { // the writer still reads msg
		st.sendCond.Wait()
	}
	if st.sending { // failed
		st.sending = false
		st.sendHead, st.sendBuf = nil, nil
		st.sendCond.Broadcast()
		return st.failErrLocked()
	}
	return nil
}

// Recv returns the next whole message; the caller owns it. It returns
// io.EOF after the peer half-closed and every message was read, a
// *StreamError after a reset, and an error matching ErrSessionClosed
// (wrapping the cause) when the session died. Messages received before the
// session died are still returned first. Only one goroutine may call Recv
// at a time.
func (st *Stream) Recv() ([]byte, error) {
	s := st.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if st.err != nil {
			return nil, st.err
		}
		if len(st.queue) > 0 {
			m := st.queue[0]
			st.queue[0] = nil
			st.queue = st.queue[1:]
			if len(st.queue) == 0 {
				st.queue = st.inline[:0]
			}
			st.held -= int64(cap(m))
			s.heldLocked(-int64(cap(m)))
			n := int64(len(m)) - int64(st.headCredit)
			st.headCredit = 0
			s.creditStreamLocked(st, n, false)
			return m, nil
		}
		if st.recvEnd {
			return nil, io.EOF
		}
		if s.closed {
			return nil, st.sessErrLocked()
		}
		if st.partialLen > st.headCredit {
			// A message larger than the window is being assembled and we
			// want it: let the peer send the rest (batched when the rest was
			// credited in advance, creditAnnouncedLocked).
			n := st.partialLen - st.headCredit
			st.headCredit = st.partialLen
			s.creditStreamLocked(st, int64(n), st.promised == 0)
		}
		s.creditAnnouncedLocked(st)
		st.recvWaiting = true
		st.recvCond.Wait()
		st.recvWaiting = false
	}
}

// Release hands msg, a message returned by Recv, back to nap's buffer pool
// so that a later message (on any session) reuses its memory instead of
// allocating: call it once the message has been consumed (decoded, copied).
// Releasing is optional: a message that is never released is garbage
// collected as usual, and the pool keeps nothing the garbage collector wants
// back (it is a sync.Pool per size class, README "Message buffers").
//
// Misuse corrupts data silently: after Release the caller must not read or
// write msg or any slice of it (a later Recv, maybe on another stream or
// session, writes into the same memory), and a message must be released at
// most once. Release is safe for concurrent use and does not need the stream
// to be open.
func (st *Stream) Release(msg []byte) {
	putMessage(msg)
}

// Reset aborts both directions and tells the peer with code (peer's Recv
// and Send then return a *StreamError with Remote true and its stream
// context is cancelled). Pending local Send/Recv return a *StreamError.
// Resetting a finished or already reset stream does nothing. On a legacy
// stream nothing is sent (the legacy protocol has no reset).
func (st *Stream) Reset(code ErrorCode) error {
	s := st.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	st.resetLocked(code, "")
	return nil
}

// Close releases the stream: if either direction is still open it resets
// the stream with CodeCancel; its Context is then done. Close is idempotent
// and returns nil.
func (st *Stream) Close() error {
	s := st.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	if !st.removed && !s.closed {
		st.resetLocked(CodeCancel, "stream closed")
	}
	if st.cancel != nil {
		st.cancel(ErrStreamClosed) // no effect when a reset or the session's end cancelled it
	}
	if st.held != 0 {
		// Finished (or the session died) with messages nobody read: they no
		// longer count toward the buffer budgets.
		clear(st.queue)
		st.queue = st.inline[:0]
		s.heldLocked(-st.held)
		st.held = 0
	}
	return nil
}
