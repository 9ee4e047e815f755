package nap

import (
	"time"
)

// Enforcement against abusive peers (PROTOCOL.md section 13). Everything here
// runs in the read loop, on frames that are not on the data hot path (PING,
// RST_STREAM), or is one comparison per frame (the control queue).

// checkCtrlQueueLocked closes a session whose peer makes us queue more than
// MaxControlQueue bytes of control frames without reading them (a PING or
// RST_STREAM flood against a full socket, CVE-2019-9512 / 9514 style).
func (s *Session) checkCtrlQueueLocked() error {
	if len(s.ctrl) > MaxControlQueue {
		return calmErrorf("control frame flood: %d bytes of control frames queued for a peer that does not read them (limit %d)",
			len(s.ctrl), MaxControlQueue)
	}
	return nil
}

// notePeerPing applies the keepalive enforcement policy to a PING (not ACK)
// from the peer: one that comes sooner than MinPingInterval after the
// previous one is a strike, more than MaxPingStrikes strikes in a row close
// the session. Read loop only.
func (s *Session) notePeerPing() error {
	min := s.cfg.minPingInterval
	if min <= 0 {
		return nil
	}
	now := time.Now()
	if !s.lastPeerPing.IsZero() && now.Sub(s.lastPeerPing) < min {
		s.pingStrikes++
		if s.pingStrikes > MaxPingStrikes {
			return calmErrorf("too many pings: %d PINGs in a row less than %v apart (at most %d allowed)",
				s.pingStrikes+1, min, MaxPingStrikes+1)
		}
	} else {
		s.pingStrikes = 0
	}
	s.lastPeerPing = now
	return nil
}

// notePeerResetLocked counts a stream the peer opened and then reset while
// we were still working on it (rapid reset, CVE-2023-44487): the peer gets a
// token bucket of MaxConcurrentStreams such resets, refilled at
// MaxConcurrentStreams per second; beyond it the session is closed. Read loop
// only (mu held).
func (s *Session) notePeerResetLocked() error {
	limit := float64(s.cfg.maxConcurrentStreams)
	now := time.Now()
	if s.resetAt.IsZero() {
		s.resetTokens = limit
	} else {
		s.resetTokens = min(limit, s.resetTokens+now.Sub(s.resetAt).Seconds()*limit)
	}
	s.resetAt = now
	if s.resetTokens < 1 {
		return calmErrorf("rapid reset: the peer reset more than %d of its streams in a burst (at most %d per second)",
			int(limit), int(limit))
	}
	s.resetTokens--
	return nil
}
