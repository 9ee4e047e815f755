package dora

import (
	"log/slog"
	"time"
)

// Request timeout: a call's goroutine starts when the first frame of its request arrives
// and then waits for the rest of the request. A peer that sends part of a request and
// stops would hold that goroutine (and a MaxServerCalls slot) forever; a connection with
// a call that has waited RequestTimeout for its request is therefore closed (Warn log).
//
// The check costs the call path two atomic adds: each call counts itself in the slot of
// the current generation while it waits; a reaper goroutine per server (started by the
// first Serve, ended when the last Serve returns) advances the generation every
// RequestTimeout/4 and closes the connections that still have calls waiting in a slot
// that is RequestTimeout old.

// DefaultRequestTimeout is the default time a call may wait for its whole request
// (RequestTimeout).
const DefaultRequestTimeout = 30 * time.Second

const (
	reqWaitSlots = 8 // generations kept; more than reqWaitAge
	reqWaitAge   = 5 // a slot this many generations back is at least RequestTimeout old
	reqWaitTicks = 4 // generations per RequestTimeout
)

// waitRequestBegin counts a call as waiting for its request and returns its slot.
func (s *Server) waitRequestBegin(cs *connState) uint32 {
	slot := s.reqGen.Load() % reqWaitSlots
	cs.reqWait[slot].Add(1)
	return slot
}

// waitRequestEnd ends what waitRequestBegin started.
func waitRequestEnd(cs *connState, slot uint32) { cs.reqWait[slot].Add(-1) }

// startReaper runs the request reaper while at least one Serve runs (it is started by the
// first and stopped when the last returns), unless the check is disabled. It returns the
// function Serve calls when it returns.
func (s *Server) startReaper() (stop func()) {
	if s.opts.requestTimeout < 0 {
		return func() {}
	}
	s.mu.Lock()
	s.reaperUsers++
	if s.reaperUsers == 1 {
		stop, done := make(chan struct{}), make(chan struct{})
		s.reaperStop, s.reaperDone = stop, done
		go s.reap(max(s.opts.requestTimeout/reqWaitTicks, time.Millisecond), stop, done)
	}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.reaperUsers--
		var done chan struct{}
		if s.reaperUsers == 0 {
			close(s.reaperStop)
			done = s.reaperDone
		}
		s.mu.Unlock()
		if done != nil {
			<-done
		}
	}
}

func (s *Server) reap(tick time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		g := s.reqGen.Add(1)
		s.mu.Lock()
		var late []*connState
		for _, cs := range s.sessions {
			for back := uint32(reqWaitAge); back < reqWaitSlots; back++ {
				if cs.reqWait[(g-back)%reqWaitSlots].Load() > 0 {
					late = append(late, cs)
					break
				}
			}
		}
		s.mu.Unlock()
		for _, cs := range late {
			select {
			case <-cs.sess.Done():
				continue // already closed; its calls are ending
			default:
			}
			s.logger.Warn("dora: closing a connection whose peer did not send a whole request in time",
				slog.String("remote", cs.sess.RemoteAddr().String()), slog.Duration("request_timeout", s.opts.requestTimeout))
			cs.sess.Close()
		}
	}
}
