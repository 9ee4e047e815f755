package dora

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/nap"
)

// Reply budgets: what peers that do not read can make a server hold.
//
// A reply (a unary response or a streamed message) is encoded into a buffer, then handed
// to nap, which sends it as the peer's flow-control window allows. A peer that never reads
// keeps that buffer alive until nap's WriteTimeout fails the send. Every encoded reply
// therefore reserves its size against two budgets before it is handed to nap, and gives
// it back when the send returns: its connection's (MaxConnReplyBytes) and the server's
// (MaxServerReplyBytes).
//
// A reply that does not fit waits without holding its encoding (the buffer is dropped and
// the message encoded again once it fits), at most until nap's WriteTimeout (default
// nap.DefaultWriteTimeout, 10 s) or the call's deadline; a reply that cannot get budget in
// that time fails its call with ResourceExhausted (the status-only answer is not counted).
// A reply always fits a budget that holds nothing, so one message of any allowed size
// (MaxRecvMsgSize on the peer's side) always goes through.
//
// Small replies (at most smallReplyBytes, 4 KiB) never wait for the server's budget: they
// are counted in it but may take it past its limit, so that an exhausted server budget
// does not delay the small answers of honest connections. What they can add is bounded by
// MaxServerCalls x 4 KiB (32 MiB with the defaults); they still wait for their
// connection's budget.
//
// When the server's budget is what a reply waits for, the connection that holds the most
// of it without making progress pays: a connection that holds reply bytes and has
// completed no reply send for replyStallTime is closed (logged at Warn level), which fails
// its sends and frees its budget. Honest peers that read complete sends all the time and
// are never closed for this.
const (
	// DefaultMaxConnReplyBytes is the default budget of encoded reply bytes one connection
	// may have waiting to be sent (MaxConnReplyBytes).
	DefaultMaxConnReplyBytes = 16 << 20
	// DefaultMaxServerReplyBytes is the default budget of encoded reply bytes all
	// connections together may have waiting to be sent (MaxServerReplyBytes).
	DefaultMaxServerReplyBytes = 64 << 20
	// smallReplyBytes is the largest reply that never waits for the server's budget.
	smallReplyBytes = 4 << 10
	// replyStallTime is how long a connection may hold reply bytes without completing a
	// send before, when the server's budget is exhausted, it may be closed.
	replyStallTime = 1 * time.Second
	// maxReplyTimeouts is how many replies of one connection may fail because its peer
	// did not read them (nap's WriteTimeout, or no reply budget in that time) before the
	// connection is closed.
	maxReplyTimeouts = 3
)

// replyBudget counts reserved reply bytes against a limit. The fast path is one CAS to
// take and one add to give; waiting is for the slow path only.
type replyBudget struct {
	limit   int64
	used    atomic.Int64
	waiters atomic.Int32 // goroutines in waitReply watching freed

	mu    sync.Mutex
	freed chan struct{} // closed (and replaced) when bytes are given back while someone waits
}

func (b *replyBudget) init(limit int) {
	b.limit = int64(limit)
	b.freed = make(chan struct{})
}

// tryTake reserves n bytes when they fit or when nothing is reserved.
func (b *replyBudget) tryTake(n int64) bool {
	for {
		u := b.used.Load()
		if u > 0 && u+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// takeSmall reserves n bytes without checking the limit when n is at most
// smallReplyBytes, and reports whether it did.
func (b *replyBudget) takeSmall(n int64) bool {
	if n > smallReplyBytes {
		return false
	}
	b.used.Add(n)
	return true
}

// give returns n bytes and wakes the waiters, if any.
func (b *replyBudget) give(n int64) {
	b.used.Add(-n)
	if b.waiters.Load() > 0 {
		b.mu.Lock()
		close(b.freed)
		b.freed = make(chan struct{})
		b.mu.Unlock()
	}
}

// watch returns the channel closed by the next give. Call it after counting yourself in
// waiters and before trying to take, so that no give is missed.
func (b *replyBudget) watch() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.freed
}

// connState is the server's accounting of one connection.
type connState struct {
	sess    *nap.Session
	reqWait [reqWaitSlots]atomic.Int32 // calls waiting for their request, by reqGen slot (request.go)
	replies replyBudget
	sent    atomic.Uint64 // reply sends completed: the connection's progress
	stuck   atomic.Int32  // replies failed because the peer did not read them
	// accept is the session's next acceptor (Server.acceptCall on this connection), built
	// once per session so that starting it allocates nothing (nil with IdleCallWorkers).
	accept func()
}

// noteStuck counts a reply that failed because the peer did not read (err matches
// nap.ErrWriteTimeout, or is the reply budget's timeout) and closes the connection at the
// maxReplyTimeouts-th.
func (s *Server) noteStuck(cs *connState, err error) {
	if !errors.Is(err, nap.ErrWriteTimeout) && !errors.Is(err, errReplyBudgetTimeout) {
		return
	}
	if cs.stuck.Add(1) != maxReplyTimeouts {
		return
	}
	s.logger.Warn("dora: closing a connection whose peer does not read its replies",
		slog.String("remote", cs.sess.RemoteAddr().String()), slog.Int("failed_replies", maxReplyTimeouts),
		slog.Any("error", err))
	cs.sess.Close()
}

func (s *Server) newConnState(sess *nap.Session) *connState {
	cs := &connState{sess: sess}
	cs.replies.init(s.opts.maxConnReplyBytes)
	return cs
}

// giveReply gives back what takeReply reserved; sent reports whether the send completed.
func (c *serverCall) giveReply(n int, sent bool) {
	if sent {
		c.conn.sent.Add(1)
	}
	c.conn.replies.give(int64(n))
	c.srv.replies.give(int64(n))
}

// resizeReply corrects a reservation of from bytes (an estimate, or an earlier encoding)
// to the to bytes the encoded reply takes, in both budgets.
func (c *serverCall) resizeReply(from, to int) {
	if d := int64(to - from); d != 0 {
		c.conn.replies.used.Add(d)
		c.srv.replies.used.Add(d)
	}
}

// errReplyBudgetTimeout is wrapped by the status of a call whose reply could not get
// budget in time.
var errReplyBudgetTimeout = errors.New("dora: no reply budget in time")

// errReplyBudget is the status of a call whose reply could not get budget in time.
func errReplyBudget(method string, n int) error {
	return status.Wrap(codes.ResourceExhausted, fmt.Errorf(
		"%w: the %d-byte reply of %s waited too long for the reply budget (peers not reading); retry later", errReplyBudgetTimeout, n, method))
}

// waitReply is takeReply's slow path.
func (s *Server) waitReply(c *serverCall, n int64) error {
	cs := c.conn
	wait := s.opts.nap.WriteTimeout
	if wait == 0 {
		wait = nap.DefaultWriteTimeout
	}
	var expired <-chan time.Time
	if wait > 0 || c.hasDeadline {
		deadline := time.Now().Add(wait)
		if wait < 0 || (c.hasDeadline && c.deadline.Before(deadline)) {
			deadline = c.deadline
		}
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		expired = t.C
	}
	stall := time.NewTimer(replyStallTime)
	defer stall.Stop()
	cs.replies.waiters.Add(1)
	s.replies.waiters.Add(1)
	defer cs.replies.waiters.Add(-1)
	defer s.replies.waiters.Add(-1)
	snap := s.snapshotProgress()
	done := c.st.Context().Done()
	for {
		connFreed, srvFreed := cs.replies.watch(), s.replies.watch()
		ok, blockedOnServer := c.takeReply(n)
		if ok {
			return nil
		}
		select {
		case <-connFreed:
		case <-srvFreed:
		case <-stall.C:
			if blockedOnServer {
				s.closeStalled(snap)
			}
			snap = s.snapshotProgress()
			stall.Reset(replyStallTime)
		case <-expired:
			return errReplyBudget(c.method, int(n))
		case <-done:
			return status.Wrap(codes.Unavailable, context.Cause(c.st.Context()))
		}
	}
}

// snapshotProgress records the progress of every connection that holds reply bytes.
func (s *Server) snapshotProgress() map[*connState]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := make(map[*connState]uint64)
	for _, cs := range s.sessions {
		if cs.replies.used.Load() > 0 {
			snap[cs] = cs.sent.Load()
		}
	}
	return snap
}

// closeStalled closes the connection that holds the most reply bytes among those that
// held some at snap and have completed no send since.
func (s *Server) closeStalled(snap map[*connState]uint64) {
	var worst *connState
	var most int64
	for cs, sent := range snap {
		if cs.sent.Load() != sent {
			continue
		}
		if u := cs.replies.used.Load(); u > most {
			worst, most = cs, u
		}
	}
	if worst == nil {
		return
	}
	select {
	case <-worst.sess.Done():
		return // already closed
	default:
	}
	s.logger.Warn("dora: closing a connection whose peer does not read its replies while the server's reply budget is exhausted",
		slog.String("remote", worst.sess.RemoteAddr().String()), slog.Int64("reply_bytes", most),
		slog.Duration("no_progress_for", replyStallTime), slog.Int("server_budget", int(s.replies.limit)))
	worst.sess.Close()
}
