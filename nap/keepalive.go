package nap

import (
	"fmt"
	"time"
)

// keepAliveLoop pings an idle connection and fails the session when no
// frame at all arrives within KeepAliveTimeout after a PING: a dead peer is
// detected within KeepAliveInterval + KeepAliveTimeout of its last frame.
func (s *Session) keepAliveLoop() {
	defer s.wg.Done()
	interval, timeout := s.cfg.keepAliveInterval, s.cfg.keepAliveTimeout
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		now := time.Since(s.start)
		idle := now - time.Duration(s.lastRecv.Load())
		if idle < interval || s.readerBlocked.Load() {
			t.Reset(interval - idle)
			continue
		}
		s.mu.Lock()
		if !s.firstFrame {
			// The handshake timeout watches connections that have not spoken.
			// (PING is safe once the peer spoke: legacy peers know it too.)
			s.mu.Unlock()
			t.Reset(interval)
			continue
		}
		s.ctrl = appendPing(s.ctrl, false, nil)
		s.queueCtrlLocked()
		s.mu.Unlock()
		t.Reset(timeout)
		select {
		case <-s.done:
			return
		case <-s.pingAck:
			if !t.Stop() {
				<-t.C
			}
		case <-t.C:
		}
		if time.Duration(s.lastRecv.Load()) < now && !s.readerBlocked.Load() {
			s.fail(&connError{code: CodeKeepAliveTimeout, msg: fmt.Sprintf(
				"nap: keepalive timeout: no frame from the peer for %v (interval %v + timeout %v)",
				(time.Since(s.start) - time.Duration(s.lastRecv.Load())).Round(time.Millisecond), interval, timeout)}, false)
			return
		}
		idle = time.Since(s.start) - time.Duration(s.lastRecv.Load())
		t.Reset(max(interval-idle, time.Millisecond))
	}
}
