package nap

import (
	"fmt"
	"time"
)

// The watchdog is one timer per session (no goroutine while it sleeps) that
// ticks every config.watchPeriod, at most once a second. Everything it
// enforces is counted in ticks, so the hot paths only store the current tick
// (no clock read): a Send records the tick of its last progress, the writer
// counts its completed writes.
//
// On each tick it
//   - fails a Send that made no progress for WriteTimeout (ErrWriteTimeout,
//     RST_STREAM WRITE_TIMEOUT);
//   - closes the session when a socket write made no progress for
//     WriteTimeout (the peer does not read);
//   - sends GOAWAY (NO_ERROR) when no stream was open for IdleTimeout;
//   - gives the write buffer of a connection that wrote nothing for a tick
//     back to the pool.

// startWatchdog arms the watchdog; called by run.
func (s *Session) startWatchdog() {
	s.mu.Lock()
	s.watchTimer = time.AfterFunc(s.cfg.watchPeriod, s.watch)
	s.mu.Unlock()
}

// watch is one watchdog tick.
func (s *Session) watch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.tick++
	noWrite := s.writeCount == s.lastWriteCount
	if noWrite && !s.writing {
		s.parkWriterLocked() // idle for a tick: the 64 KiB write buffer goes back to the pool
	}
	if n := s.cfg.writeTicks; n > 0 {
		if s.writing && noWrite {
			s.stuckTicks++
			if s.stuckTicks >= n {
				s.failLocked(&connError{code: CodeWriteTimeout, msg: fmt.Sprintf(
					"nap: write timeout: the peer read nothing for %v", s.cfg.writeTimeout)}, false)
				return
			}
		} else {
			s.stuckTicks = 0
		}
		for _, st := range s.streams {
			s.checkSendLocked(st, n)
		}
		for st := range s.unsent {
			s.checkSendLocked(st, n)
		}
	}
	s.lastWriteCount = s.writeCount
	if n := s.cfg.idleTicks; n > 0 && s.mode != modeUnknown {
		if s.numLocal+s.numPeer > 0 {
			s.activeTick = s.tick
		} else if s.tick-s.activeTick >= n && !s.goAwaySent {
			s.cfg.logger.Debug("nap: closing idle session", "remote", s.conn.RemoteAddr().String(), "idle", s.cfg.idleTimeout)
			s.beginGoAwayLocked()
		}
	}
	s.watchTimer.Reset(s.cfg.watchPeriod)
}

// checkSendLocked fails a Send on st that made no progress for n ticks.
func (s *Session) checkSendLocked(st *Stream, n int64) {
	if st.sending && st.err == nil && s.tick-st.sendTick >= n {
		st.resetLocked(CodeWriteTimeout, fmt.Sprintf("send made no progress for %v", s.cfg.writeTimeout))
	}
}
