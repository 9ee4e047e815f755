package nap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"time"
)

// ioError describes a failed read or write on the connection.
func ioError(op string, err error) error {
	switch {
	case errors.Is(err, io.EOF):
		return fmt.Errorf("nap: connection closed by peer: %w", err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("nap: connection closed by peer in the middle of a frame: %w", err)
	case errors.Is(err, net.ErrClosed):
		return fmt.Errorf("nap: connection closed: %w", err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("nap: %s timed out: %w", op, err)
	}
	return fmt.Errorf("nap: %s: %w", op, err)
}

// readLoop is the only goroutine that reads from the connection.
func (s *Session) readLoop() {
	defer s.wg.Done()
	defer func() {
		s.br.Reset(nil)
		readerPool.Put(s.br)
		s.br = nil // a closed Session the application keeps must not keep 64 KiB
		// Messages in assembly never complete now: drop them.
		s.mu.Lock()
		for _, st := range s.streams {
			st.partial = nil
		}
		s.mu.Unlock()
	}()
	var hdr [headerSize]byte
	for {
		if _, err := io.ReadFull(s.br, hdr[:]); err != nil {
			s.fail(ioError("read", err), false)
			return
		}
		s.lastRecv.Store(int64(time.Since(s.start)))
		if err := s.handleFrame(parseHeader(hdr[:])); err != nil {
			var ce *connError
			s.fail(err, errors.As(err, &ce))
			return
		}
		if s.yieldToWriter {
			// Config.EagerCredit: the credit for the rest of a message is
			// queued; with one P the writer would send it only once this
			// loop blocks, after the socket is drained, while the sender
			// waits for it. Let the writer send it now.
			s.yieldToWriter = false
			s.creditYields.Add(1)
			runtime.Gosched()
		}
		if s.yieldToReader {
			// Config.YieldToReader: with one P the reader woken by
			// handleData runs only once this loop blocks, which while a bulk
			// sender has window left is after the whole window has been
			// read: the reader then drains it all and returns credit only at
			// the end, and the sender waits. Let the reader take each large
			// message as it arrives instead (one pair of switches per
			// message of 16 KiB or more).
			s.yieldToReader = false
			s.yields.Add(1)
			runtime.Gosched()
		}
	}
}

// handleFrame validates and processes one frame whose header was just read.
// A non-nil error closes the session.
func (s *Session) handleFrame(h frameHeader) error {
	s.mu.Lock()
	mode := s.mode
	s.firstFrame = true
	if err := s.checkCtrlQueueLocked(); err != nil {
		s.mu.Unlock()
		return err
	}
	s.mu.Unlock()
	maxFrame := s.cfg.maxFrameSize
	if mode == modeUnknown {
		// Server: the first DATA or SETTINGS decides what the peer is.
		switch h.typ {
		case frameSettings:
			return s.handleHandshake(h)
		case frameData:
			s.mu.Lock()
			s.mode = modeLegacy
			s.peer = legacySettings
			s.connSendWindow = maxWindow
			s.mu.Unlock()
			s.cfg.logger.Debug("nap: legacy peer detected", "remote", s.conn.RemoteAddr().String())
			mode = modeLegacy
		case framePing:
			// legacy-compatible: answer it, stay undecided (the handshake
			// timer keeps running)
		default:
			return protocolErrorf("first frame has type 0x%x, want SETTINGS, DATA or PING", uint8(h.typ))
		}
	}
	legacy := mode == modeLegacy
	if legacy {
		maxFrame = LegacyMaxMessageSize
	}
	if err := checkHeader(h, maxFrame, legacy); err != nil {
		return err
	}
	switch h.typ {
	case frameData:
		if legacy {
			return s.handleLegacyData(h)
		}
		return s.handleData(h)
	case framePing:
		var p [maxPingPayload]byte
		if _, err := io.ReadFull(s.br, p[:h.length]); err != nil {
			return ioError("read", err)
		}
		if h.flags&flagPingAck != 0 {
			s.pingAcks.Add(1)
			select {
			case s.pingAck <- struct{}{}:
			default:
			}
		} else {
			if err := s.notePeerPing(); err != nil {
				return err
			}
			s.mu.Lock()
			s.ctrl = appendPing(s.ctrl, true, p[:h.length])
			s.queueCtrlLocked()
			s.mu.Unlock()
		}
		return nil
	case frameSettings:
		return protocolErrorf("duplicate SETTINGS frame")
	}
	p := s.ctrlIn[:h.length]
	if _, err := io.ReadFull(s.br, p); err != nil {
		return ioError("read", err)
	}
	switch h.typ {
	case frameWindowUpdate:
		incr, err := parseWindowUpdate(p)
		if err != nil {
			return err
		}
		return s.handleWindowUpdate(h.streamID, incr)
	case frameRstStream:
		code, err := parseRstStream(p)
		if err != nil {
			return err
		}
		return s.handleRstStream(h.streamID, code)
	case frameGoAway:
		lastID, code, debug, err := parseGoAway(p)
		if err != nil {
			return err
		}
		return s.handleGoAway(lastID, code, debug)
	}
	return protocolErrorf("unknown frame type 0x%x", uint8(h.typ))
}

// handleHandshake processes the client's SETTINGS on a server session and answers with ours.
func (s *Session) handleHandshake(h frameHeader) error {
	if err := checkHeader(h, s.cfg.maxFrameSize, false); err != nil {
		return err
	}
	var pbuf [2 + 6*maxSettings]byte
	p := pbuf[:h.length]
	if _, err := io.ReadFull(s.br, p); err != nil {
		return ioError("read", err)
	}
	peer, err := parseSettings(p)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = modeV2
	s.handshakeDoneLocked()
	s.setPeerSettings(peer)
	// Our SETTINGS go first: nothing else can be queued before the mode is known.
	s.ctrl = append(appendSettings(nil, s.cfg.settings), s.ctrl...)
	s.queueCtrlLocked()
	return nil
}

// isPeerID reports whether id belongs to the peer's ID space.
func (s *Session) isPeerID(id uint32) bool {
	if s.client {
		return id%2 == 0
	}
	return id%2 == 1
}

// lookupLocked finds the stream a frame refers to. It returns nil, nil for
// a stream that is finished and may legitimately still receive control
// frames, and an error for an ID that was never opened.
func (s *Session) lookupLocked(id uint32, typ frameType) (*Stream, error) {
	if st := s.streams[id]; st != nil {
		return st, nil
	}
	if s.isPeerID(id) {
		if id > s.lastPeerID {
			return nil, protocolErrorf("%s frame on idle stream %d", typ, id)
		}
	} else if id >= s.nextID {
		return nil, protocolErrorf("%s frame on idle stream %d", typ, id)
	}
	return nil, nil
}

// handleData receives a DATA frame from a handshaking peer.
func (s *Session) handleData(h frameHeader) error {
	n := int64(h.length) // payload bytes: what flow control and the budgets count
	m := int(n)          // bytes of the message in this frame (n without a size hint)
	want := 0            // size the frame announces for the message it starts (flag SIZE), 0: none
	if h.flags&flagDataSize != 0 {
		if !s.cfg.sizeHints {
			return protocolErrorf("DATA frame on stream %d with flag SIZE, which we did not announce", h.streamID)
		}
		var hint [sizeHintLen]byte
		if _, err := io.ReadFull(s.br, hint[:]); err != nil {
			return ioError("read", err)
		}
		want = int(binary.BigEndian.Uint32(hint[:]))
		m -= sizeHintLen
		if want < m {
			return protocolErrorf("DATA frame on stream %d announces a message of %d bytes and carries %d", h.streamID, want, m)
		}
	}
	settled := true
	if s.budget != nil && n > 0 {
		s.budget.reserve(n) // settled by storeReservedLocked
		settled = false
		defer func() {
			if !settled { // a protocol error, or the read failed: the session is closing
				s.budget.used.Add(-n)
			}
		}()
	}
	s.mu.Lock()
	st := s.streams[h.streamID]
	opened := st == nil // this frame opens the stream: it starts its first message
	if opened {
		var err error
		st, err = s.newPeerStreamLocked(h.streamID)
		if err != nil {
			s.mu.Unlock()
			return err
		}
	}
	if st.recvEnd {
		s.mu.Unlock()
		return protocolErrorf("DATA frame on stream %d after END_STREAM", h.streamID)
	}
	if n > s.connRecvWindow {
		err := flowControlErrorf("DATA frame of %d bytes exceeds the connection window %d", n, s.connRecvWindow)
		s.mu.Unlock() // the message is built first: the windows are read under the lock
		return err
	}
	if n > st.recvWindow {
		err := flowControlErrorf("DATA frame of %d bytes on stream %d exceeds the stream window %d", n, h.streamID, st.recvWindow)
		s.mu.Unlock()
		return err
	}
	s.connRecvWindow -= n
	st.recvWindow -= n
	// A message in assembly never grows by more than the peer may still send
	// on the stream (or one stream window) ahead of the bytes that arrive:
	// what the buffer budgets count is its capacity.
	slack := max(int(st.recvWindow), int(s.cfg.streamWindow))
	more := h.flags&flagDataMore != 0
	discard := st.err != nil
	if !discard {
		if want > 0 && (st.partial != nil || st.partialLen > 0) {
			s.mu.Unlock()
			return protocolErrorf("DATA frame on stream %d announces a size in the middle of a message", h.streamID)
		}
		if w := st.partialWant; w > 0 && (st.partialLen+m > w || (!more && st.partialLen+m != w)) {
			s.mu.Unlock()
			return protocolErrorf("message on stream %d is longer or shorter than the %d bytes announced", h.streamID, w)
		}
		if uint64(st.partialLen)+uint64(m) > uint64(s.cfg.maxMessageSize) || uint64(want) > uint64(s.cfg.maxMessageSize) {
			st.resetLocked(CodeMessageTooLarge, fmt.Sprintf("message exceeds limit %d bytes", s.cfg.maxMessageSize))
			discard = true
			st.partial = nil
		} else if want > 0 {
			st.partialWant = want
		}
	}
	// The announced size is taken in one step only when the peer may send it
	// all, or a Recv waits for it and the connection has room for it.
	waiting, announced, promised := st.recvWaiting, st.partialWant, st.promised != 0
	roomy := s.held+s.promised+int64(announced) <= s.cfg.sizeHintCredit
	s.readingInto = st // st.partial is ours until the second lock
	s.mu.Unlock()

	oldCap := cap(st.partial)
	var msg []byte
	if !discard && n == 0 && h.flags&flagDataEnd != 0 && st.partial == nil {
		// A bare END_STREAM: half-close without a message.
	} else if discard {
		if _, err := s.br.Discard(m); err != nil {
			return ioError("read", err)
		}
	} else {
		if st.partial == nil && !more {
			var err error
			if msg, err = s.readPayload(m); err != nil {
				return ioError("read", err)
			}
		} else {
			l := len(st.partial)
			if cap(st.partial)-l < m {
				c := l + m
				switch w := announced; {
				case w > 0 && st.partial == nil:
					// The first frame of an announced message. The size is
					// the peer's word: take at most sizeHintPrealloc before
					// its bytes arrive. When that is all the rest, take the
					// whole message now: a full first frame of a message a
					// little larger (a 64 KiB payload with its envelope) is
					// then not copied into a second buffer by the next frame.
					c = min(w, max(c, sizeHintPrealloc))
					if w-m <= sizeHintPrealloc {
						c = w
					}
				case w > 0 && (w <= c+slack || promised || (waiting && roomy)):
					// The rest may come now (it fits the window, it was
					// credited in advance, or the reader asked for it and
					// SizeHintCredit has room): the announced size, in one
					// step.
					c = w
				case w > 0:
					// Nobody reads the stream yet, or the connection holds
					// too much: what the peer may send.
					c = min(w, c+slack)
				case more:
					// No size announced: grow by doubling.
					c = min(max(2*cap(st.partial), c, 4096), c+slack, max(int(s.cfg.maxMessageSize), c))
				}
				nb := getMessage(c)[:l]
				copy(nb, st.partial)
				if st.partial != nil {
					putMessage(st.partial) // never seen by anyone else
				}
				st.partial = nb
			}
			st.partial = st.partial[:l+m]
			if _, err := io.ReadFull(s.br, st.partial[l:]); err != nil {
				return ioError("read", err)
			}
			if !more {
				msg = st.partial
				st.partial = nil
			}
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.readingInto = nil
	stored := !discard && st.err == nil
	var grown int64 // capacity this frame added to what the stream holds
	if stored {
		grown = int64(cap(st.partial) - oldCap + cap(msg))
		st.held += grown
		st.partialCap = cap(st.partial)
	}
	s.storeReservedLocked(n, grown)
	settled = true
	s.creditConnLocked(n)
	if s.connLimited && s.connRecvWindow < int64(s.cfg.maxFrameSize) {
		s.breakBudgetDeadlockLocked()
	}
	if discard || st.err != nil {
		st.partial = nil
	} else {
		if want > 0 {
			// The size hint is not part of the message: its bytes are
			// credited back at once.
			s.creditStreamLocked(st, sizeHintLen, false)
		}
		st.partialLen += m
		// Config.EagerCredit: the first message of a stream the peer just
		// opened is credited before the application accepts the stream and
		// waits for it (it is about to).
		eager := s.cfg.eagerCredit && opened && want > 0
		if msg == nil && (st.recvWaiting || eager) && s.creditAnnouncedLocked(st) && s.cfg.eagerCredit {
			s.yieldToWriter = true
		}
		if msg == nil && len(st.queue) == 0 && st.recvWaiting && st.partialLen > st.headCredit {
			// Early credit of what arrived. Once the rest of the message was
			// credited in advance the peer needs none of it to finish the
			// message, so it is batched like consumed data (half a window
			// per update) instead of one update per frame.
			c := st.partialLen - st.headCredit
			st.headCredit = st.partialLen
			s.creditStreamLocked(st, int64(c), st.promised == 0)
		}
		if msg != nil {
			st.queue = append(st.queue, msg)
			st.partialLen, st.partialWant = 0, 0
			s.unpromiseLocked(st)
			st.recvCond.Signal()
			s.yieldToReader = s.cfg.yieldToReader && st.recvWaiting && len(msg) >= directReadMin
		}
	}
	if h.flags&flagDataEnd != 0 {
		st.recvEnd = true
		st.recvCond.Signal()
		s.maybeRemoveLocked(st)
	}
	return nil
}

// newPeerStreamLocked handles the first DATA frame of a stream the peer opens.
func (s *Session) newPeerStreamLocked(id uint32) (*Stream, error) {
	if !s.isPeerID(id) {
		if id >= s.nextID {
			return nil, protocolErrorf("DATA frame on idle stream %d", id)
		}
		return nil, protocolErrorf("DATA frame on closed stream %d", id)
	}
	if id <= s.lastPeerID {
		return nil, protocolErrorf("DATA frame on closed stream %d", id)
	}
	s.lastPeerID = id
	limit := int(s.cfg.maxConcurrentStreams)
	if s.numPeer >= 2*limit+16 {
		return nil, protocolErrorf("peer keeps opening streams beyond the limit %d", limit)
	}
	st := s.newStreamLocked(id, false)
	st.sendWindow = int64(s.peer.streamWindow)
	s.numPeer++
	var code ErrorCode
	switch {
	case s.goAwaySent:
		code = CodeRefusedStream
	case s.numPeer > limit || s.acceptQ.len() >= limit:
		code = CodeStreamLimit
	case s.budget != nil && s.budget.refuses(s.held):
		// The server's buffer budget is nearly full and this connection
		// holds more than its share: refuse (retryable) rather than take more.
		code = CodeStreamLimit
	default:
		s.acceptQ.push(st)
		select {
		case s.acceptNotify <- struct{}{}:
		default:
		}
		return st, nil
	}
	// Refused: a tombstone until the peer's answering RST (or END_STREAM).
	st.resetLocked(code, "")
	return st, nil
}

// handleLegacyData receives a request from a legacy peer: one frame, one message.
func (s *Session) handleLegacyData(h frameHeader) error {
	s.mu.Lock()
	if st := s.streams[h.streamID]; st != nil {
		s.mu.Unlock()
		return protocolErrorf("legacy DATA frame on stream %d, which still awaits its answer", h.streamID)
	}
	limit := int(s.cfg.maxConcurrentStreams)
	for (s.numPeer >= limit || s.acceptQ.len() >= limit) && !s.closed {
		// Backpressure: a legacy peer cannot be refused, so stop reading.
		s.readerBlocked.Store(true)
		s.stateCond.Wait()
	}
	s.readerBlocked.Store(false)
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	msg := make([]byte, h.length)
	if _, err := io.ReadFull(s.br, msg); err != nil {
		return ioError("read", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.handshakeDone {
		s.handshakeDoneLocked() // the first request is complete
	}
	if s.goAwaySent {
		return nil // shutting down: the request is dropped, the connection closes soon
	}
	st := s.newStreamLocked(h.streamID, false)
	st.legacy = true
	st.recvEnd = true
	st.queue = append(st.queue, msg)
	st.held = int64(cap(msg))
	s.heldLocked(st.held)
	s.numPeer++
	s.acceptQ.push(st)
	select {
	case s.acceptNotify <- struct{}{}:
	default:
	}
	return nil
}

func (s *Session) handleWindowUpdate(id, incr uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == 0 {
		s.connSendWindow += int64(incr)
		if s.connSendWindow > maxWindow {
			return flowControlErrorf("connection send window overflow (%d > %d)", s.connSendWindow, maxWindow)
		}
		if s.connBlocked {
			s.connBlocked = false
			s.writeCond.Signal()
		}
		return nil
	}
	st, err := s.lookupLocked(id, frameWindowUpdate)
	if err != nil || st == nil {
		return err
	}
	st.sendWindow += int64(incr)
	if st.sendWindow > maxWindow {
		return flowControlErrorf("stream %d send window overflow (%d > %d)", id, st.sendWindow, maxWindow)
	}
	if st.winBlocked && st.sending && st.err == nil {
		st.winBlocked = false
		s.readyLocked(st)
	}
	return nil
}

func (s *Session) handleRstStream(id uint32, code ErrorCode) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.lookupLocked(id, frameRstStream)
	if err != nil || st == nil {
		return err
	}
	if !st.local && !st.sentEnd && !st.sentRst {
		if err := s.notePeerResetLocked(); err != nil {
			return err
		}
	}
	st.recvRst = true
	st.failLocked(&StreamError{StreamID: id, Code: code, Remote: true})
	if !st.sentEnd && !st.sentRst {
		// Answer, so the peer knows no more frames come on this stream.
		st.sentRst = true
		s.ctrl = appendRstStream(s.ctrl, id, code)
		s.queueCtrlLocked()
	}
	s.maybeRemoveLocked(st)
	return nil
}

func (s *Session) handleGoAway(lastID uint32, code ErrorCode, debug string) error {
	gerr := &goAwayError{code: code, debug: debug, lastID: lastID}
	if code != CodeNoError {
		s.mu.Lock()
		s.closeLocked(gerr, false)
		s.mu.Unlock()
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.goAwayRecv = true
	s.peerLastID = lastID
	// Streams the peer never accepted fail with a retryable error.
	var refused []*Stream
	for id, st := range s.streams {
		if st.local && id > lastID {
			refused = append(refused, st)
		}
	}
	for st := range s.unsent {
		refused = append(refused, st)
	}
	for _, st := range refused {
		if !st.removed {
			st.failLocked(fmt.Errorf("nap: stream %d not processed by the peer: %w", st.id, ErrGoAway))
			if st.id != 0 && !st.sentEnd && !st.sentRst {
				// Let the peer drop its tombstone for frames already sent.
				s.ctrl = appendRstStream(s.ctrl, st.id, CodeRefusedStream)
				s.queueCtrlLocked()
			}
			st.sentRst, st.recvRst = true, true
			s.removeLocked(st)
		}
	}
	s.closeIfDrainedLocked()
	return nil
}

// sizeHintPrealloc is the most memory the first frame of a message with a
// size hint makes us take before more of its bytes arrive, 64 KiB (README,
// "Resource model"): the announced size is the peer's word. A message whose
// rest after the first frame is at most this much is taken whole at once.
const sizeHintPrealloc = 64 << 10

// directReadMin is the payload size from which readPayload reads past the read
// buffer, straight into the message.
const directReadMin = 16 << 10

// readPayload returns the next n bytes in a pooled buffer (msgpool.go) the
// caller owns.
func (s *Session) readPayload(n int) ([]byte, error) {
	if n == 0 {
		return []byte{}, nil
	}
	if n < directReadMin && n <= s.br.Size() {
		p, err := s.br.Peek(n)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		msg := getMessage(n)
		copy(msg, p)
		_, err = s.br.Discard(n)
		return msg, err
	}
	// A large payload: take what the read buffer already holds, then read the
	// rest straight from the connection into the message. The buffer is empty
	// by then, so the byte order is kept, and bulk data is copied once, not twice.
	msg := getMessage(n)
	k, _ := s.br.Read(msg[:min(n, s.br.Buffered())])
	if k == n {
		return msg, nil
	}
	_, err := io.ReadFull(s.conn, msg[k:])
	return msg, err
}

// creditAnnouncedLocked grows the window of a stream whose reader waits for
// a message announced with a size hint and larger than what the window lets
// the peer send, so that one large call is not throttled to one stream
// window per round trip (Config.SizeHintCredit): when what the connection
// holds plus the message fits SizeHintCredit, the rest of the message is
// credited at once. The credit counts as already returned for the message
// (headCredit), so the window is back to its size once the message is read.
// Called by the read loop and by Recv while a Recv waits (the application
// asked for the message), and by the read loop at the first frame of a stream
// the peer opens when Config.EagerCredit is set. It reports whether it
// credited the message.
func (s *Session) creditAnnouncedLocked(st *Stream) bool {
	w, limit := st.partialWant, s.cfg.sizeHintCredit
	if w == 0 || st.promised != 0 || limit <= 0 || len(st.queue) != 0 || s.held+s.promised+int64(w) > limit {
		return false
	}
	if s.readingInto == st {
		// The read loop is reading a frame of this message unlocked: the window
		// already counts its bytes and partialLen does not yet, so the rest would be
		// over-credited by the frame. The read loop calls this again once the frame
		// is in (a Recv is waiting).
		return false
	}
	rest := int64(w-st.partialLen) - st.recvWindow - st.credit
	if rest <= 0 || st.remoteDone() || st.sentRst {
		return false
	}
	// Promised until the message is complete or the stream fails
	// (unpromiseLocked): what is promised and what is held stay within limit.
	st.promised = int64(w)
	s.promised += st.promised
	st.headCredit += int(rest)
	s.creditStreamLocked(st, rest, true)
	return true
}

// unpromiseLocked ends the promise creditAnnouncedLocked made for st's message.
func (s *Session) unpromiseLocked(st *Stream) {
	s.promised -= st.promised
	st.promised = 0
}
