package nap

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// session modes
const (
	modeUnknown = iota // server: first frame not seen yet
	modeV2             // handshake done
	modeLegacy         // server: the peer is a legacy client
)

// closeFlushTimeout bounds the final write of pending control frames
// (GOAWAY) when a session closes.
const closeFlushTimeout = 250 * time.Millisecond

// Session is one nap connection: many concurrent Streams multiplexed over a
// net.Conn. Create it with Dial, Client, Server or Listener.Accept. All
// methods are safe for concurrent use. A Session owns three goroutines
// (reader, writer, keepalive) that exit when it closes; always call Close or
// Shutdown.
type Session struct {
	conn   net.Conn
	tcp    *net.TCPConn // conn when it is plain TCP (vectored writes)
	cfg    config
	client bool // we dialled: our streams get odd IDs
	start  time.Time

	br     *bufio.Reader            // reader goroutine only
	ctrlIn [8 + maxGoAwayDebug]byte // reader goroutine only: payload of the control frame being read
	bw     *bufio.Writer            // the write token holder only
	batch  *writeBatch              // the write token holder only

	lastRecv      atomic.Int64 // nanoseconds since start of the last received frame
	readerBlocked atomic.Bool  // legacy backpressure: reader waits for a free stream slot

	mu        sync.Mutex
	writeCond sync.Cond // writer waits for work
	stateCond sync.Cond // legacy backpressure waits for a free slot

	mode       int
	firstFrame bool     // the first frame has arrived (server)
	peer       settings // the peer's limits
	streams    map[uint32]*Stream
	nextID     uint32               // next ID for a stream we open
	unsent     map[*Stream]struct{} // streams we opened that have no ID yet
	lastPeerID uint32               // highest stream ID the peer opened (handshaking peers)
	numLocal   int                  // streams we opened, not yet finished
	numPeer    int                  // streams the peer opened, not yet finished (tombstones included)

	connSendWindow int64 // what the peer lets us send on the connection
	connRecvWindow int64 // what we still let the peer send
	connCredit     int64 // consumed bytes not yet returned with WINDOW_UPDATE
	yieldToReader  bool  // read loop only (set in handleData): yield to the reader of a large message (Config.YieldToReader)
	yieldToWriter  bool  // read loop only (set in handleData): yield to the writer, which has a message's credit to send (Config.EagerCredit)

	writing        bool       // the write token: someone is writing a batch
	ctrl           []byte     // encoded control frames waiting for the writer
	ready          streamRing // streams with a message to send, round-robin
	connBlocked    bool       // the last pass stopped: connection window, or streams held behind bulk
	flushLater     bool       // a sender left small frames buffered for the writer to flush
	dataSinceFlush bool       // DATA frames went into the write buffer since the last flush (writer.go)

	// bulk is the stream whose message of several frames is being sent: another message
	// larger than sharedFrameSize starts only after it (writer.go, buildBatchLocked).
	// While bulk waits for its stream window the others wait too, for at most
	// bulkWindowWait: bulkTimer (armed: bulkTimerArmed) then sets bulkWaitOver.
	// The next to start is the large message queued first: bulkNext (its sendSeq in
	// bulkNextSeq), chosen by nextBulkLocked; sendSeq numbers the messages handed to Send.
	bulk           *Stream
	bulkTimer      *time.Timer
	bulkTimerArmed bool
	bulkWaitOver   bool
	bulkNext       *Stream
	bulkNextSeq    uint64
	sendSeq        uint64

	acceptQ      streamRing // accepted by the reader, not yet by the application
	acceptNotify chan struct{}

	goAwaySent bool
	goAwayRecv bool
	peerLastID uint32 // from the peer's GOAWAY

	drained bool // going away and no stream left: the writer closes after flushing
	closed  bool
	err     error // sessionError once closed
	done    chan struct{}

	pingAck        chan struct{} // the reader got a PING ACK
	pingAcks       atomic.Int64  // PING ACKs received (statistics, tests)
	yields         atomic.Int64  // YieldToReader yields of the read loop (tests)
	creditYields   atomic.Int64  // EagerCredit yields of the read loop (tests)
	flushYields    atomic.Int64  // writer yields before a coalesced flush (writer.go; tests)
	handshakeTimer *time.Timer
	wg             sync.WaitGroup

	// watchdog (watchdog.go), guarded by mu
	watchTimer     *time.Timer
	tick           int64  // watchdog ticks since start
	writeCount     uint64 // socket writes completed
	lastWriteCount uint64 // writeCount at the previous tick
	stuckTicks     int64  // ticks in a row with a write in progress and none completed
	activeTick     int64  // last tick with an open stream

	// enforcement (enforce.go)
	handshakeDone bool      // server: SETTINGS (or the first legacy request) received; guarded by mu
	lastPeerPing  time.Time // read loop only
	pingStrikes   int       // read loop only
	resetAt       time.Time // read loop only (mu held): last rapid-reset bucket update
	resetTokens   float64   // read loop only (mu held)

	// buffer budgets (budget.go), guarded by mu
	held        int64         // bytes of received messages we keep (assembling + unread)
	heldA       atomic.Int64  // copy of held for the server budget's victim choice
	budget      *serverBudget // the Listener's, nil for sessions made by Server/Client/Dial
	budgetLeft  bool          // closed: held no longer counts toward budget
	connLimited bool          // the last connection credit was cut by MaxConnBuffered
	promised    int64         // announced messages whose window was credited in advance (Stream.promised)
	readingInto *Stream       // the stream whose DATA payload the read loop is reading (without mu)
}

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeBufSize) }}
)

const (
	readBufSize  = 64 << 10
	writeBufSize = 64 << 10
)

func newSession(conn net.Conn, cfg config, client bool) *Session {
	s := &Session{
		conn:         conn,
		cfg:          cfg,
		client:       client,
		start:        time.Now(),
		streams:      make(map[uint32]*Stream),
		unsent:       make(map[*Stream]struct{}),
		acceptNotify: make(chan struct{}, 1),
		pingAck:      make(chan struct{}, 1),
		done:         make(chan struct{}),
	}
	s.tcp, _ = conn.(*net.TCPConn)
	s.writeCond.L = &s.mu
	s.stateCond.L = &s.mu
	s.br = readerPool.Get().(*bufio.Reader)
	s.br.Reset(conn)
	s.bw = writerPool.Get().(*bufio.Writer)
	s.bw.Reset(conn)
	s.batch = batchPool.Get().(*writeBatch)
	if client {
		s.nextID = 1
	} else {
		s.nextID = 2
	}
	s.connRecvWindow = int64(s.cfg.connWindow)
	return s
}

// run starts the session goroutines.
func (s *Session) run() {
	s.lastRecv.Store(int64(time.Since(s.start)))
	n := 2
	if s.cfg.keepAliveInterval > 0 {
		n++
	}
	s.wg.Add(n)
	s.startWatchdog()
	go s.readLoop()
	go s.writeLoop()
	if s.cfg.keepAliveInterval > 0 {
		go s.keepAliveLoop()
	}
}

// setPeerSettings applies the peer's SETTINGS (mu held or before run).
func (s *Session) setPeerSettings(p settings) {
	s.peer = p
	s.connSendWindow = int64(p.connWindow)
}

// Done returns a channel closed when the session is closed.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns nil while the session is open, then why it closed. The error
// matches ErrSessionClosed and wraps the cause (ErrKeepAliveTimeout,
// ErrProtocol, a network error...).
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// NumStreams returns the number of open streams, both directions.
func (s *Session) NumStreams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.numLocal + s.numPeer
}

// CanOpenStream reports whether OpenStream would currently succeed: the
// session is open, not going away, the handshake is done (not a legacy peer)
// and the peer's MaxConcurrentStreams is not reached.
func (s *Session) CanOpenStream() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.openErrLocked() == nil
}

// Legacy reports whether the peer is a legacy (no handshake) client. Always
// false on the client side and before the server has seen the first frame.
func (s *Session) Legacy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mode == modeLegacy
}

// LocalAddr returns the local network address.
func (s *Session) LocalAddr() net.Addr { return s.conn.LocalAddr() }

// RemoteAddr returns the peer's network address.
func (s *Session) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

func (s *Session) openErrLocked() error {
	switch {
	case s.closed:
		return &notOpenedError{cause: s.err}
	case s.mode == modeLegacy:
		return errors.New("nap: cannot open a stream toward a legacy peer")
	case s.mode == modeUnknown:
		return errors.New("nap: cannot open a stream before the peer's handshake")
	case s.goAwaySent:
		return fmt.Errorf("nap: session is shutting down: %w", ErrGoAway)
	case s.goAwayRecv:
		return fmt.Errorf("nap: peer sent GOAWAY: %w", ErrGoAway)
	case s.nextID+2*uint32(len(s.unsent)) > maxStreamID:
		return fmt.Errorf("nap: stream IDs exhausted: %w", ErrGoAway)
	case uint32(s.numLocal) >= s.peer.maxConcurrentStreams:
		return fmt.Errorf("nap: peer allows at most %d concurrent streams: %w", s.peer.maxConcurrentStreams, ErrStreamRefused)
	}
	return nil
}

// OpenStream opens a new stream toward the peer. It does not block and sends
// nothing: the stream gets its ID and reaches the peer with its first
// message. It fails with an error matching ErrStreamRefused when the peer's
// MaxConcurrentStreams is reached, ErrGoAway when the session is going away
// or stream IDs are exhausted (both retryable, see IsRetryable), and
// ErrSessionClosed when closed. On a server session it fails for a legacy
// peer.
func (s *Session) OpenStream(ctx context.Context) (*Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.openErrLocked(); err != nil {
		if errors.Is(err, ErrGoAway) && !s.goAwaySent && !s.goAwayRecv {
			// ID exhaustion: stop using this connection.
			s.beginGoAwayLocked()
		}
		return nil, err
	}
	st := s.newStreamLocked(0, true)
	s.unsent[st] = struct{}{}
	s.numLocal++
	return st, nil
}

// AcceptStream waits for the next stream opened by the peer (for a legacy
// peer: the next request). It fails when ctx ends or the session closes.
func (s *Session) AcceptStream(ctx context.Context) (*Stream, error) {
	for {
		s.mu.Lock()
		if s.closed {
			err := s.err
			s.mu.Unlock()
			return nil, err
		}
		if s.acceptQ.len() > 0 {
			st := s.acceptQ.pop()
			s.mu.Unlock()
			return st, nil
		}
		s.mu.Unlock()
		select {
		case <-s.acceptNotify:
		case <-s.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// beginGoAwayLocked stops new streams and tells a handshaking peer.
func (s *Session) beginGoAwayLocked() {
	if s.goAwaySent {
		return
	}
	s.goAwaySent = true
	if s.mode == modeV2 {
		s.ctrl = appendGoAway(s.ctrl, s.lastPeerID, CodeNoError, "")
		s.writeCond.Signal()
	}
	s.closeIfDrainedLocked()
}

// closeIfDrainedLocked closes a session that is going away once no stream is left.
func (s *Session) closeIfDrainedLocked() {
	if (s.goAwaySent || s.goAwayRecv) && s.numLocal+s.numPeer == 0 && !s.closed {
		// The writer closes once everything queued is on the wire.
		s.drained = true
		s.writeCond.Signal()
	}
}

// Shutdown closes gracefully: it sends GOAWAY (not to a legacy peer),
// refuses new streams, lets open streams finish until ctx ends, then closes.
// It returns nil when every stream finished, ctx.Err() when ctx ended first
// (the session is closed anyway).
func (s *Session) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.mode == modeUnknown && !s.closed {
		s.closeLocked(ErrSessionClosed, false)
	}
	s.beginGoAwayLocked()
	s.mu.Unlock()
	select {
	case <-s.done:
		s.wait()
		return nil
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
}

// Close closes the session now: a handshaking peer gets GOAWAY (best
// effort), every pending Send, Recv and AcceptStream returns an error
// matching ErrSessionClosed at once, stream contexts are cancelled. Close
// waits for the session goroutines to exit; it is idempotent and returns nil.
func (s *Session) Close() error {
	s.mu.Lock()
	if !s.closed {
		if s.mode == modeV2 && !s.goAwaySent {
			s.goAwaySent = true
			s.ctrl = appendGoAway(s.ctrl, s.lastPeerID, CodeNoError, "")
		}
		s.closeLocked(ErrSessionClosed, true)
	}
	s.mu.Unlock()
	s.wait()
	return nil
}

// wait waits for the session goroutines.
func (s *Session) wait() { s.wg.Wait() }

// fail closes the session because of err (protocol error, I/O error,
// keepalive). sendGoAway: tell a handshaking peer why.
func (s *Session) fail(err error, sendGoAway bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failLocked(err, sendGoAway)
}

func (s *Session) failLocked(err error, sendGoAway bool) {
	if s.closed {
		return
	}
	code := CodeInternal
	var ce *connError
	if errors.As(err, &ce) {
		code = ce.code
	}
	if sendGoAway && s.mode == modeV2 {
		s.ctrl = appendGoAway(s.ctrl, s.lastPeerID, code, err.Error())
		s.goAwaySent = true
	}
	if ce != nil {
		s.cfg.logger.Warn("nap: session failed", "remote", s.conn.RemoteAddr().String(), "err", err)
	} else {
		s.cfg.logger.Debug("nap: connection ended", "remote", s.conn.RemoteAddr().String(), "err", err)
	}
	s.closeLocked(err, sendGoAway)
}

// closeLocked marks the session closed and wakes everything. flush: let the
// writer write pending control frames (GOAWAY) before closing the conn.
func (s *Session) closeLocked(cause error, flush bool) {
	if s.closed {
		return
	}
	s.closed = true
	if se, ok := cause.(*sessionError); ok {
		s.err = se
	} else {
		s.err = &sessionError{cause: cause}
	}
	if s.handshakeTimer != nil {
		s.handshakeTimer.Stop()
	}
	if s.watchTimer != nil {
		s.watchTimer.Stop()
	}
	if s.bulkTimer != nil {
		s.bulkTimer.Stop()
	}
	s.leaveBudgetLocked()
	if !flush {
		s.ctrl = s.ctrl[:0]
		_ = s.conn.Close()
	} else {
		// The writer writes the pending frames and closes the conn; a peer
		// that does not read cannot hold it longer than this.
		_ = s.conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
	}
	for _, st := range s.streams {
		st.sessionClosedLocked()
	}
	s.ready.each((*Stream).sessionClosedLocked)
	close(s.done)
	s.writeCond.Broadcast()
	s.stateCond.Broadcast()
}

// newStreamLocked creates a stream; id 0 means "ID assigned at first send".
func (s *Session) newStreamLocked(id uint32, local bool) *Stream {
	st := &Stream{
		id:         id,
		sess:       s,
		local:      local,
		sendWindow: int64(s.peer.streamWindow),
		recvWindow: int64(s.cfg.streamWindow),
	}
	st.sendCond.L = &s.mu
	st.recvCond.L = &s.mu
	st.queue = st.inline[:0]
	if id != 0 {
		s.streams[id] = st
	}
	return st
}

// removeLocked forgets a finished stream.
func (s *Session) removeLocked(st *Stream) {
	if st.removed {
		return
	}
	st.removed = true
	if st.id != 0 {
		if s.streams[st.id] == st {
			delete(s.streams, st.id)
		}
	} else if st.local {
		delete(s.unsent, st)
	}
	if st.local {
		s.numLocal--
	} else {
		s.numPeer--
		if s.mode == modeLegacy {
			s.stateCond.Broadcast()
		}
	}
	s.closeIfDrainedLocked()
}

// maybeRemoveLocked removes the stream once both directions are finished.
func (s *Session) maybeRemoveLocked(st *Stream) {
	if st.localDone() && (st.remoteDone() || (st.id == 0 && st.sentRst)) {
		s.removeLocked(st)
	}
}

// queueCtrlLocked wakes the writer after a control frame was appended to s.ctrl.
func (s *Session) queueCtrlLocked() { s.writeCond.Signal() }

// creditStreamLocked returns n consumed bytes of a stream's window to the
// peer. Updates are batched (half the window) unless force is set
// (a reader waits for a message larger than what is left of the window).
func (s *Session) creditStreamLocked(st *Stream, n int64, force bool) {
	if n <= 0 || s.mode != modeV2 || s.closed || st.remoteDone() || st.sentRst {
		return
	}
	st.credit += n
	if force || st.credit >= int64(s.cfg.streamWindow)/2 {
		s.ctrl = appendWindowUpdate(s.ctrl, st.id, uint32(st.credit))
		st.recvWindow += st.credit
		st.credit = 0
		s.writeCond.Signal()
	}
}

// creditConnLocked returns n received bytes of the connection window: the
// connection window bounds data in transit, it is credited as soon as a
// frame has been moved into its stream (or discarded), so a stream whose
// reader stalls holds only its own stream window and never blocks others,
// as long as what the connection holds stays within MaxConnBuffered
// (flushConnCreditLocked).
func (s *Session) creditConnLocked(n int64) {
	if n <= 0 || s.mode != modeV2 || s.closed {
		return
	}
	s.connCredit += n
	s.flushConnCreditLocked()
}

// newHandshakeTimer closes a server session whose handshake (TLS included:
// the first read performs it) has not completed within HandshakeTimeout.
func newHandshakeTimer(s *Session) *time.Timer {
	return time.AfterFunc(s.cfg.handshakeTimeout, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.handshakeDone && !s.closed {
			s.closeLocked(&connError{code: CodeHandshakeTimeout, msg: fmt.Sprintf(
				"nap: handshake timeout: no complete SETTINGS (or legacy request) from %s within %v", s.conn.RemoteAddr(), s.cfg.handshakeTimeout)}, false)
		}
	})
}

// handshakeDoneLocked stops the server's handshake timer.
func (s *Session) handshakeDoneLocked() {
	s.handshakeDone = true
	if s.handshakeTimer != nil {
		s.handshakeTimer.Stop()
	}
}
