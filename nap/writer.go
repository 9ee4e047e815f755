package nap

import (
	"bufio"
	"encoding/binary"
	"net"
	"runtime"
	"sync"
	"time"
)

// batchBudget is how many payload bytes the writer schedules per batch
// before it writes them; every stream with data gets one frame per round,
// so a small message waits at most one batch behind a bulk transfer.
const batchBudget = 256 << 10

// outFrame is a DATA frame scheduled by the writer.
type outFrame struct {
	st      *Stream
	hdr     [headerSize + sizeHintLen]byte // frame header, then the size hint when hlen says so
	hlen    int                            // bytes of hdr to write
	payload []byte
	more    []byte // the rest of the payload when the frame spans a SendV head and body
	last    bool   // the last frame of the stream's current message
}

type writeBatch struct {
	ctrl    []byte
	frames  []outFrame
	payload int         // DATA payload bytes in frames
	vecs    [][]byte    // writev scratch
	bufs    net.Buffers // what writev consumes (a field, so it does not escape per call)
}

var batchPool = sync.Pool{New: func() any { return &writeBatch{ctrl: make([]byte, 0, 512)} }}

// sharedFrameSize is the largest DATA payload per frame of a stream that
// shares the writer with other streams that have data to send, 64 KiB
// (README, "Frames"): with MaxFrameSize raised on both sides, only a stream
// that is alone gets frames beyond it.
const sharedFrameSize = 64 << 10

// readyLocked puts a stream with something to send into the round-robin
// and wakes the writer goroutine.
func (s *Session) readyLocked(st *Stream) {
	if s.enqueueLocked(st) {
		s.writeCond.Signal()
	}
}

// enqueueLocked puts a stream into the round-robin without waking the
// writer: for a Send that goes on to write itself (writeDirectLocked), which
// wakes the writer only if it leaves work behind. It reports whether the
// stream was added.
func (s *Session) enqueueLocked(st *Stream) bool {
	if st.inReady || s.closed {
		return false
	}
	st.inReady = true
	s.ready.push(st)
	s.connBlocked = false
	return true
}

// busyLocked reports whether more than one stream is open: other sends are
// then likely to follow soon, and a small write is worth holding back for the
// writer goroutine to flush together with them.
func (s *Session) busyLocked() bool { return s.numLocal+s.numPeer > 1 }

func (s *Session) hasWorkLocked() bool {
	return len(s.ctrl) > 0 || (s.ready.len() > 0 && !s.connBlocked && s.mode != modeUnknown)
}

// Writing: one goroutine at a time holds the write token (s.writing) and
// owns the bufio.Writer. A Send that finds the token free writes its batch
// itself (no goroutine hand-off on an idle connection); otherwise the
// writer goroutine takes control frames first, then one DATA frame per
// ready stream in turn, and flushes when there is nothing more to do.

// writeLoop is the background writer.
func (s *Session) writeLoop() {
	defer s.wg.Done()
	yielded := false // held back a flush once already (flushLater)
	s.mu.Lock()
	for {
		if s.writing {
			s.writeCond.Wait()
			continue
		}
		if s.closed {
			s.writing = true // nobody else writes any more
			ctrl := s.ctrl
			s.ctrl = nil
			bw := s.writerLocked()
			s.mu.Unlock()
			// Write what is pending (GOAWAY) within closeFlushTimeout, then close.
			if _, err := bw.Write(ctrl); err == nil {
				_ = bw.Flush()
			}
			_ = s.conn.Close()
			s.releaseBuffers()
			return
		}
		if !s.hasWorkLocked() {
			if s.buffered() > 0 {
				if s.flushLater && !yielded {
					// Senders left small frames in the buffer because other
					// streams are active: let the goroutines that are ready to
					// run (handlers about to answer, callers about to ask) add
					// theirs first, then write them all with one syscall. Once
					// per flush, so a steady stream of senders cannot starve it.
					yielded = true
					s.flushYields.Add(1)
					s.mu.Unlock()
					runtime.Gosched()
					s.mu.Lock()
					continue
				}
				s.flushLater, yielded = false, false
				s.writing = true
				s.mu.Unlock()
				err := s.bw.Flush()
				s.mu.Lock()
				s.writeCount++
				s.writing = false
				if err != nil {
					s.failLocked(ioError("write", err), false)
				} else {
					s.flushedLocked()
				}
				continue
			}
			if s.drained {
				s.closeLocked(ErrSessionClosed, false)
				continue
			}
			s.writeCond.Wait()
			continue
		}
		s.writing = true
		err := s.writeBatchLocked()
		s.writing = false
		if err != nil {
			s.failLocked(ioError("write", err), false)
		}
	}
}

// writeDirectLocked lets a sending goroutine write when the token is free:
// one batch, then a flush if nothing else is pending; the writer goroutine
// takes over what remains. When other streams are active and the batch went
// into the write buffer (small frames), the flush is left to the writer
// goroutine, which coalesces it with the frames of the sends that follow.
// If the token is taken, its holder wakes the writer when it is done.
func (s *Session) writeDirectLocked() {
	if s.writing || s.closed || !s.hasWorkLocked() {
		if !s.writing {
			s.writeCond.Signal()
		}
		return
	}
	s.writing = true
	err := s.writeBatchLocked()
	if err == nil && !s.hasWorkLocked() && s.buffered() > 0 {
		if s.busyLocked() {
			s.flushLater = true
		} else {
			s.mu.Unlock()
			err = s.bw.Flush()
			s.mu.Lock()
			s.writeCount++
			if err == nil {
				s.flushedLocked()
			}
		}
	}
	s.writing = false
	if err != nil {
		s.failLocked(ioError("write", err), false)
	}
	if s.hasWorkLocked() || s.buffered() > 0 || s.drained || s.closed {
		s.writeCond.Signal()
	}
}

// writeBatchLocked builds one batch, writes it without the lock and
// completes the sends it finished. The caller holds the write token.
func (s *Session) writeBatchLocked() error {
	b := s.batch
	s.buildBatchLocked(b)
	s.writerLocked()
	s.mu.Unlock()
	var err error
	if s.tcp != nil && b.payload >= vectorThreshold {
		err = s.writeVectors(b)
	} else {
		if len(b.ctrl) > 0 {
			_, err = s.bw.Write(b.ctrl)
		}
		for i := range b.frames {
			if err != nil {
				break
			}
			f := &b.frames[i]
			if _, err = s.bw.Write(f.hdr[:f.hlen]); err == nil && len(f.payload) > 0 {
				_, err = s.bw.Write(f.payload)
			}
			if err == nil && len(f.more) > 0 {
				_, err = s.bw.Write(f.more)
			}
		}
	}
	s.mu.Lock()
	s.writeCount++
	if len(b.frames) > 0 {
		s.dataSinceFlush = true
	}
	for i := range b.frames {
		f := &b.frames[i]
		st := f.st
		st.inFlight--
		if f.last && st.sending {
			st.sending = false
			st.sendHead, st.sendBuf = nil, nil
		}
		st.sendCond.Broadcast()
		b.frames[i] = outFrame{}
	}
	b.frames = b.frames[:0]
	b.ctrl = b.ctrl[:0]
	b.payload = 0
	return err
}

// vectorThreshold is the batch payload size from which a TCP connection is
// written with one writev of headers and payloads instead of copying the
// payloads through the bufio.Writer.
const vectorThreshold = 32 << 10

// writeVectors writes the batch with writev (plain TCP only), after what
// the bufio.Writer still holds.
func (s *Session) writeVectors(b *writeBatch) error {
	if s.bw.Buffered() > 0 {
		if err := s.bw.Flush(); err != nil {
			return err
		}
	}
	v := b.vecs[:0]
	if len(b.ctrl) > 0 {
		v = append(v, b.ctrl)
	}
	for i := range b.frames {
		f := &b.frames[i]
		v = append(v, f.hdr[:f.hlen])
		if len(f.payload) > 0 {
			v = append(v, f.payload)
		}
		if len(f.more) > 0 {
			v = append(v, f.more)
		}
	}
	b.vecs = v
	b.bufs = v // WriteTo consumes b.bufs; b.vecs keeps the backing array
	_, err := b.bufs.WriteTo(s.tcp)
	b.bufs = nil
	clear(v)
	return err
}

// The 64 KiB write buffer is not kept by an idle connection (the common case
// for a server with thousands of them): the watchdog gives it back to
// writerPool when a whole tick passed without a write (at most about two
// seconds after the last one), and the next batch takes one again. Nothing
// changes on the hot path.

// writerLocked returns the write buffer, taking one from the pool if the
// session has none (token holder, mu held).
func (s *Session) writerLocked() *bufio.Writer {
	if s.bw == nil {
		s.bw = writerPool.Get().(*bufio.Writer)
		s.bw.Reset(s.conn)
	}
	return s.bw
}

// parkWriterLocked gives an empty write buffer back to the pool (mu held,
// and either the write token or nobody holds it).
func (s *Session) parkWriterLocked() {
	if s.bw != nil && s.bw.Buffered() == 0 {
		s.bw.Reset(nil)
		writerPool.Put(s.bw)
		s.bw = nil
	}
}

// flushedLocked runs after a flush that emptied the write buffer (token
// holder, mu held): a flush of control frames only (SETTINGS, WINDOW_UPDATE,
// PING ACK, RST_STREAM: all that a connection that is not exchanging data
// writes) gives the buffer back at once; after DATA it is kept for the next
// message (the watchdog parks it if the connection then goes quiet).
func (s *Session) flushedLocked() {
	if !s.dataSinceFlush {
		s.parkWriterLocked()
	}
	s.dataSinceFlush = false
}

// buffered returns the bytes waiting in the write buffer (mu held).
func (s *Session) buffered() int {
	if s.bw == nil {
		return 0
	}
	return s.bw.Buffered()
}

// releaseBuffers returns the writer's pooled buffers (writer goroutine, at exit).
func (s *Session) releaseBuffers() {
	if s.bw != nil {
		s.bw.Reset(nil)
		writerPool.Put(s.bw)
	}
	b := s.batch
	b.ctrl = b.ctrl[:0]
	clear(b.frames)
	b.frames = b.frames[:0]
	batchPool.Put(b)
	s.bw, s.batch = nil, nil // a closed Session the application keeps must not keep 64 KiB
}

// buildBatchLocked moves pending control frames and a fair share of DATA
// frames into b.
func (s *Session) buildBatchLocked(b *writeBatch) {
	b.ctrl, s.ctrl = s.ctrl, b.ctrl[:0]
	if s.mode == modeUnknown {
		return
	}
	// A stream sends frames up to both sides' MaxFrameSize while it is the
	// only one with data for the writer (a lone bulk message goes out in
	// few large frames: fewer headers, reads and copies on the receiving
	// side), and up to sharedFrameSize while others wait, so that they get
	// their turn after at most that much of it.
	loneFrame := int(min(s.peer.maxFrameSize, s.cfg.maxFrameSize))
	sharedFrame := min(loneFrame, sharedFrameSize)
	budget := batchBudget
	connWaiting := 0 // streams in a row that wait for the connection window
	held := 0        // streams in a row whose large message waits for s.bulk's to end
	for budget > 0 && s.ready.len() > connWaiting+held {
		st := s.ready.pop()
		if !st.sending || st.err != nil || s.closed {
			st.inReady = false
			continue
		}
		rem := len(st.sendHead) + len(st.sendBuf) - st.sendOff
		// One large message at a time: a message larger than sharedFrameSize starts
		// only when no other stream is in the middle of one that can progress. Small
		// messages still interleave with it (at most sharedFrameSize of it between
		// them). Interleaving several large messages would not finish any sooner in
		// total, and it makes the receiver hold all of them half-assembled at once: 16
		// messages of 1.125 MiB filled its 16 MiB connection budget before any
		// completed, and it reset one (RESOURCE_EXHAUSTED).
		//
		// The next large message to start is the one queued first (nextBulkLocked), not
		// the one that happens to follow the finished one in the round-robin: that was
		// mostly the one queued last (a Send queued between two passes lands right behind
		// the bulk stream, which each of its frames puts back at the end), so under steady
		// load a message could wait behind any number of later ones.
		if st.sendOff == 0 && rem > sharedFrame && !st.legacy {
			if s.bulk != nil && s.bulk != st {
				if s.bulkProgressingLocked() {
					s.ready.push(st)
					held++
					continue
				}
				s.bulk = nil
			}
			if s.bulk == nil && s.nextBulkLocked(st, sharedFrame) != st {
				s.ready.push(st)
				held++
				continue
			}
		}
		n := rem
		maxFrame := loneFrame
		if s.ready.len() > 0 {
			maxFrame = sharedFrame
		}
		var flags uint8
		hint := false
		if st.legacy {
			// One message, one frame, flags 0; the answer ends the stream.
		} else {
			if n > maxFrame {
				n = maxFrame
			}
			if int64(n) > st.sendWindow {
				n = int(st.sendWindow)
			}
			if int64(n) > s.connSendWindow {
				n = int(s.connSendWindow)
			}
			if n < rem && st.sendOff == 0 && s.peer.sizeHints && n > sizeHintLen {
				// The first frame of a message that takes several: announce
				// its size, so that the peer assembles it in one buffer.
				hint = true
				n -= sizeHintLen
			}
			if n == 0 && rem > 0 {
				if st.sendWindow <= 0 {
					st.inReady = false
					st.winBlocked = true
					continue
				}
				// The connection window is empty: this stream waits for a
				// WINDOW_UPDATE; frames of length 0 may still go.
				s.ready.push(st)
				connWaiting++
				continue
			}
			connWaiting, held = 0, 0
			wire := int64(n)
			if hint {
				wire += sizeHintLen
			}
			st.sendWindow -= wire
			s.connSendWindow -= wire
			if n < rem {
				flags = flagDataMore
			} else if st.sendEnd {
				flags = flagDataEnd
			}
		}
		if st.id == 0 {
			st.id = s.nextID
			s.nextID += 2
			delete(s.unsent, st)
			s.streams[st.id] = st
		}
		f := outFrame{st: st, last: n == rem, hlen: headerSize}
		f.payload, f.more = st.sendSlices(n)
		if hint {
			flags |= flagDataSize
			binary.BigEndian.PutUint32(f.hdr[headerSize:], uint32(rem))
			f.hlen += sizeHintLen
		}
		putHeader(f.hdr[:], frameHeader{length: uint32(f.hlen - headerSize + n), streamID: st.id, typ: frameData, flags: flags})
		b.frames = append(b.frames, f)
		b.payload += n
		st.inFlight++
		st.sendOff += n
		st.sendTick = s.tick
		budget -= n + headerSize
		if n < rem && s.bulk == nil && !st.legacy {
			s.bulk, s.bulkWaitOver = st, false
		}
		if n == rem {
			if s.bulk == st {
				s.bulk = nil
			}
			st.inReady = false
			if st.sendEnd || st.legacy {
				st.sentEnd = true
				s.maybeRemoveLocked(st)
			}
		} else {
			s.ready.push(st)
		}
	}
	// The pass stopped with every stream left waiting for the connection window or held
	// behind s.bulk: the writer sleeps until a WINDOW_UPDATE, a new sender or bulkTimer
	// wakes it. Streams held behind a bulk stream that left the round-robin otherwise
	// (reset, closed) are not asleep: the next pass lets them go.
	if connWaiting+held > 0 && connWaiting+held == s.ready.len() &&
		(connWaiting > 0 || (s.bulk != nil && s.bulk.winBlocked && s.bulkTimerArmed)) {
		s.connBlocked = true
	}
}

// bulkWindowWait bounds how long the other streams' large messages wait while the one
// being sent (Session.bulk) waits for its stream window: a peer that reads the message
// credits it within a round trip (at once, for the whole message, with a size hint and
// SizeHintCredit), while one that does not read that stream must not hold up the rest of
// the connection for longer.
const bulkWindowWait = 20 * time.Millisecond

// bulkProgressingLocked reports whether s.bulk, the stream sending a message of several
// frames, still holds the other large messages back: its message is unfinished and it is
// either in the round-robin or waiting for its stream window since less than
// bulkWindowWait (it arms bulkTimer for that).
func (s *Session) bulkProgressingLocked() bool {
	b := s.bulk
	if !b.sending || b.err != nil || b.sendOff == 0 || b.sendOff >= len(b.sendHead)+len(b.sendBuf) {
		return false
	}
	if !b.winBlocked {
		return b.inReady
	}
	if s.bulkWaitOver {
		return false
	}
	if !s.bulkTimerArmed {
		s.bulkTimerArmed = true
		if s.bulkTimer == nil {
			s.bulkTimer = time.AfterFunc(bulkWindowWait, s.bulkWaitExpired)
		} else {
			s.bulkTimer.Reset(bulkWindowWait)
		}
	}
	return true
}

// nextBulkLocked returns the stream whose message larger than sharedFrame, not started
// yet, was handed to Send first, among st (just taken from the round-robin) and the
// streams in the round-robin: the next to start once no bulk message is in progress.
// The choice is kept (bulkNext) while that message still waits in the round-robin, so
// the round-robin is scanned about once per large message. A message whose stream waits
// for window before its first frame is not in the round-robin and is passed over.
func (s *Session) nextBulkLocked(st *Stream, sharedFrame int) *Stream {
	waiting := func(w *Stream) bool {
		return w.sending && w.err == nil && w.sendOff == 0 && !w.legacy &&
			len(w.sendHead)+len(w.sendBuf) > sharedFrame
	}
	if n := s.bulkNext; n != nil && n.sendSeq == s.bulkNextSeq && waiting(n) && (n == st || n.inReady) {
		return n
	}
	next := st
	s.ready.each(func(w *Stream) {
		if waiting(w) && w.sendSeq < next.sendSeq {
			next = w
		}
	})
	s.bulkNext, s.bulkNextSeq = next, next.sendSeq
	return next
}

// bulkWaitExpired ends the wait of the streams held behind a Session.bulk stopped by its
// stream window (bulkTimer's function).
func (s *Session) bulkWaitExpired() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bulkTimerArmed = false
	if s.closed {
		return
	}
	if s.bulk != nil && s.bulk.winBlocked {
		s.bulkWaitOver = true
	}
	s.connBlocked = false
	s.writeCond.Signal()
}

// sendSlices returns the next n bytes of the message being sent (sendHead
// then sendBuf, from sendOff) as one or two slices.
func (st *Stream) sendSlices(n int) (a, b []byte) {
	off, h := st.sendOff, len(st.sendHead)
	if off >= h {
		return st.sendBuf[off-h : off-h+n], nil
	}
	if off+n <= h {
		return st.sendHead[off : off+n], nil
	}
	return st.sendHead[off:], st.sendBuf[:off+n-h]
}
