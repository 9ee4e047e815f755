package nap

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Buffer budgets (README "Resource model", PROTOCOL.md section 13).
//
// A session counts in held the memory of received messages it keeps: the
// capacity of the messages being assembled and of the complete messages Recv
// has not returned yet, across all its streams.
//
//   - Per connection (MaxConnBuffered): connection credit is granted only
//     while held + the connection window the peer still has <= the budget,
//     so the peer can never make one connection hold more. When the budget
//     is full of messages being assembled (which no Recv can consume), the
//     stream holding the largest one is reset with RESOURCE_EXHAUSTED.
//   - Per server (MaxServerBuffered, one per Listener): every DATA payload
//     reserves its bytes before it is read. From 7/8 of the budget, new
//     streams of sessions holding more than their fair share (budget /
//     sessions) are refused with STREAM_LIMIT (retryable); when the total
//     would exceed the budget, the session holding the most resets its
//     largest stream (RESOURCE_EXHAUSTED) until the total fits.

// serverBudget is the budget shared by the sessions of one Listener. Lock
// order: a session's mu may be held while taking b.mu, never the reverse.
type serverBudget struct {
	max  int64
	used atomic.Int64 // held + reserved bytes of all its sessions
	n    atomic.Int64 // sessions

	mu       sync.Mutex
	sessions map[*Session]struct{}
}

func newServerBudget(max int64) *serverBudget {
	return &serverBudget{max: max, sessions: make(map[*Session]struct{})}
}

func (b *serverBudget) join(s *Session) {
	b.mu.Lock()
	b.sessions[s] = struct{}{}
	b.n.Store(int64(len(b.sessions)))
	b.mu.Unlock()
}

func (b *serverBudget) leave(s *Session) {
	b.mu.Lock()
	delete(b.sessions, s)
	b.n.Store(int64(len(b.sessions)))
	b.mu.Unlock()
}

// refuses reports whether a new stream of a session holding held bytes is
// refused: when the budget is 7/8 full, sessions holding more than their fair
// share (budget / sessions) get no new streams; a session holding little,
// like an honest client whose calls complete, still does.
func (b *serverBudget) refuses(held int64) bool {
	return b.used.Load() >= b.max-b.max/8 && held > b.max/max(1, b.n.Load())
}

// reserve takes n bytes for a DATA payload about to be read. When the budget
// is exceeded, the heaviest sessions shed their largest streams until it fits
// again or nothing is left to shed. Called by a read loop without its mu.
func (b *serverBudget) reserve(n int64) {
	if b.used.Add(n) <= b.max {
		return
	}
	for i := 0; i < 16 && b.used.Load() > b.max; i++ {
		v := b.heaviest()
		if v == nil || !v.shed(fmt.Sprintf("server buffer budget of %d bytes full, this connection held the most", b.max)) {
			return
		}
	}
}

// heaviest returns the session that holds the most (nil if none holds anything).
func (b *serverBudget) heaviest() *Session {
	b.mu.Lock()
	defer b.mu.Unlock()
	var v *Session
	var most int64
	for s := range b.sessions {
		if h := s.heldA.Load(); h > most {
			v, most = s, h
		}
	}
	return v
}

// shed resets the stream of s that holds the most, with RESOURCE_EXHAUSTED.
// It reports whether it found one.
func (s *Session) shed(reason string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shedLocked(reason, false)
}

// shedLocked resets the stream holding the most (partialOnly: counting only
// messages being assembled).
func (s *Session) shedLocked(reason string, partialOnly bool) bool {
	if s.closed {
		return false
	}
	var v *Stream
	var most int64
	for _, st := range s.streams {
		h := st.held
		if partialOnly {
			h = int64(st.partialCap)
		}
		if st.err == nil && h > most {
			v, most = st, h
		}
	}
	if v == nil {
		return false
	}
	s.cfg.logger.Warn("nap: stream dropped to stay within the buffer budget", "remote", s.conn.RemoteAddr().String(),
		"stream", v.id, "held", most, "reason", reason)
	v.resetLocked(CodeResourceExhausted, fmt.Sprintf("%s (%d bytes)", reason, most))
	return true
}

// heldLocked adds n (negative: removes) to what the session holds and, unless
// the session already left its server budget, to that budget.
func (s *Session) heldLocked(n int64) {
	s.held += n
	s.heldA.Store(s.held)
	if s.budget != nil && !s.budgetLeft {
		s.budget.used.Add(n)
	}
	if n < 0 && s.connCredit > 0 {
		s.flushConnCreditLocked()
	}
}

// storeReservedLocked settles the n bytes handleData reserved in the server
// budget before reading a DATA payload: the frame made the session hold
// grown more bytes (0 when it was discarded).
func (s *Session) storeReservedLocked(n, grown int64) {
	if grown != 0 {
		s.held += grown
		s.heldA.Store(s.held)
	}
	if s.budget != nil {
		if s.budgetLeft {
			s.budget.used.Add(-n)
		} else if grown != n {
			s.budget.used.Add(grown - n)
		}
	}
}

// leaveBudgetLocked returns what the session holds to its server budget when
// it closes (messages still queued may be read afterwards; they no longer
// count).
func (s *Session) leaveBudgetLocked() {
	if s.budget == nil || s.budgetLeft {
		return
	}
	s.budgetLeft = true
	s.budget.used.Add(-s.held)
	s.budget.leave(s)
}

// flushConnCreditLocked returns connection credit to the peer, as much as
// MaxConnBuffered allows: held plus the window the peer still has never
// exceeds it. Updates are batched (a quarter of the window) unless the
// peer's window is nearly used up.
func (s *Session) flushConnCreditLocked() {
	if s.mode != modeV2 || s.closed {
		return
	}
	c := s.connCredit
	s.connLimited = false
	if room := s.cfg.maxConnBuffered - s.held - s.connRecvWindow; c > room {
		c = room
		s.connLimited = true
	}
	if c <= 0 {
		return
	}
	quarter := int64(s.cfg.connWindow) / 4
	if c >= quarter || s.connRecvWindow < quarter {
		s.ctrl = appendWindowUpdate(s.ctrl, 0, uint32(c))
		s.connRecvWindow += c
		s.connCredit -= c
		s.writeCond.Signal()
	}
}

// breakBudgetDeadlockLocked runs when the connection budget withholds credit
// and the peer has almost no window left: if at least half of what we hold is
// messages being assembled, nothing the application reads can free enough,
// so the stream assembling the largest message is reset.
func (s *Session) breakBudgetDeadlockLocked() {
	var partial int64
	for _, st := range s.streams {
		partial += int64(st.partialCap)
	}
	if 2*partial >= s.held {
		s.shedLocked(fmt.Sprintf("connection buffer budget of %d bytes full of unfinished messages", s.cfg.maxConnBuffered), true)
	}
}
