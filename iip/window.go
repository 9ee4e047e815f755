package iip

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// Flow control ("window" capability, PROTOCOL.md section 9): the frames of
// messages of several frames (flow-controlled frames) that one side may
// have sent and the other not yet acknowledged are bounded by the
// receiver's window, so that the bytes queued in sockets ahead of a small
// message stay under it. One-frame messages are never held back.

// flowControlled reports whether frames of status st count against the
// window: every frame of a message of several frames.
func flowControlled(st frameStatus) bool {
	return st != statusRequest && st != statusResponse && st != statusClose
}

// sendWindow is the credit of a connection's writer: how many bytes of
// flow-controlled frames it may still send before the peer acknowledges
// some. Frames take credit before the write lock, so that a frame waiting
// for credit never holds back a one-frame message.
type sendWindow struct {
	done  <-chan struct{} // closed when the connection ends
	mu    sync.Mutex
	limit int64 // the peer's window
	avail int64 // limit - (sent - acknowledged)
	off   bool  // disabled: the reader stopped (goaway), acknowledgements no longer arrive
	wake  chan struct{}
}

func newSendWindow(limit int64, done <-chan struct{}) *sendWindow {
	return &sendWindow{done: done, limit: limit, avail: limit, wake: make(chan struct{})}
}

// take waits until n bytes of credit are available and takes them. It
// gives up when ctx ends, when the connection ends, or, when ctx has no
// deadline and timeout is positive, after timeout.
func (s *sendWindow) take(ctx context.Context, n int64, timeout time.Duration) error {
	n = min(n, s.limit)          // frames are at most half the window; never wait forever
	var expired <-chan time.Time // nil (never ready) unless timeout applies
	armed := false
	for {
		s.mu.Lock()
		if s.off {
			s.mu.Unlock()
			return nil
		}
		if s.avail >= n {
			s.avail -= n
			s.mu.Unlock()
			return nil
		}
		wake := s.wake
		s.mu.Unlock()
		if !armed {
			armed = true
			if _, ok := ctx.Deadline(); !ok && timeout > 0 {
				t := time.NewTimer(timeout)
				defer t.Stop()
				expired = t.C
			}
		}
		select {
		case <-wake:
		case <-s.done:
			return fmt.Errorf("%w: connection closed while waiting for the peer's window", ErrConnLost)
		case <-ctx.Done():
			return ctx.Err()
		case <-expired:
			return fmt.Errorf("%w: the peer acknowledged nothing for %v (window of %d bytes full)", ErrConnLost, timeout, s.limit)
		}
	}
}

// grant adds n bytes of credit acknowledged by the peer; acknowledging
// more than was sent is a protocol error.
func (s *sendWindow) grant(n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 || s.avail+n > s.limit {
		return fmt.Errorf("%w: %s acknowledges %d bytes, more than the %d sent and not yet acknowledged", ErrProtocol, pathWindow, n, s.limit-s.avail)
	}
	s.avail += n
	close(s.wake)
	s.wake = make(chan struct{})
	return nil
}

// disable lets every frame go without credit from now on: the server's
// reader stopped (graceful shutdown) and no acknowledgement will be read,
// while the responses to what it read must still go out.
func (s *sendWindow) disable() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.off {
		s.off = true
		close(s.wake)
	}
}

// recvWindow counts the flow-controlled bytes a connection's reader gets
// from its peer; it is used by the reader only.
type recvWindow struct {
	limit       int64 // our window
	outstanding int64 // arrived and not yet acknowledged
	read        int64 // read since the last acknowledgement
	off         bool  // the server announced a goaway: it no longer reads acknowledgements
}

// arrive counts a flow-controlled frame of n data bytes whose header was
// read: a peer that sends past our window breaks the protocol.
func (r *recvWindow) arrive(n uint32) error {
	r.outstanding += int64(n)
	if r.outstanding > r.limit && !r.off {
		return fmt.Errorf("%w: peer sent %d bytes of flow-controlled frames past its window of %d", ErrProtocol, r.outstanding, r.limit)
	}
	return nil
}

// consumed counts n bytes as read and returns how many to acknowledge
// now: all read since the last acknowledgement once they reach half the
// window (so that a window of at least two frames never stalls), else 0.
func (r *recvWindow) consumed(n uint32) int64 {
	r.read += int64(n)
	if r.read < r.limit/2 || r.off {
		return 0
	}
	ack := r.read
	r.read = 0
	r.outstanding -= ack
	return ack
}

// windowUpdate is the data of /sys/window (both directions).
type windowUpdate struct {
	N int64 `json:"n"`
}

// maxWindowData bounds the data of a /sys/window frame.
const maxWindowData = 64

// parseWindowUpdate decodes the data of a /sys/window frame.
func parseWindowUpdate(data []byte) (int64, error) {
	var u windowUpdate
	if err := json.Unmarshal(data, &u); err != nil || u.N <= 0 {
		return 0, fmt.Errorf("%w: bad %s data %q", ErrProtocol, pathWindow, truncate(data, 64))
	}
	return u.N, nil
}
