package lbclient

import (
	"context"
	"io"
	"sync"
)

// pool holds one backend's connections. A connection carries up to
// maxCallsPerConn calls at once; the pool grows to maxConns under load and
// shrinks back to minConns when connections stay idle.
type pool[C io.Closer] struct {
	mu      sync.Mutex
	conns   []*pconn[C]
	dialing int
	closed  bool
	gen     uint64        // bumped by invalidate: calls waiting since before give up the backend
	wake    chan struct{} // closed when a slot frees up; nil when nobody waits

	onWait func() // test hook: called each time get starts waiting for a slot
}

// pconn is one pooled connection.
type pconn[C io.Closer] struct {
	c        C
	inUse    int
	lastUsed int64 // nanotime of the last return
	broken   bool  // no new calls; closed once inUse drops to 0
	closed   bool  // closed with calls in flight (pool.close): put does not close it again
}

// get returns a connection with a free call slot, dialing a new one if the pool
// may grow, or waiting for a slot. dialErr reports whether the error came from
// dial. Broken connections (draining their last calls) do not count toward
// maxConns: a call never waits for them, so a half-open trial dials afresh
// even while a call on a retired connection hangs. A call that waits while
// the pool is invalidated (its backend was ejected) returns errRepick.
func (p *pool[C]) get(ctx context.Context, addr string, dial Dialer[C], maxConns, perConn int) (pc *pconn[C], dialErr bool, err error) {
	p.mu.Lock()
	gen := p.gen
	for {
		if p.closed {
			p.mu.Unlock()
			return nil, false, errBackendGone
		}
		if p.gen != gen {
			p.mu.Unlock()
			return nil, false, errRepick
		}
		var best *pconn[C]
		for _, c := range p.conns {
			if !c.broken && c.inUse < perConn && (best == nil || c.inUse < best.inUse) {
				best = c
			}
		}
		if best != nil {
			best.inUse++
			p.mu.Unlock()
			return best, false, nil
		}
		if p.liveLocked()+p.dialing < maxConns {
			p.dialing++
			p.mu.Unlock()
			c, err := dial(ctx, addr)
			p.mu.Lock()
			p.dialing--
			if err != nil {
				p.signalLocked()
				p.mu.Unlock()
				return nil, true, err
			}
			if p.closed {
				p.mu.Unlock()
				c.Close()
				return nil, false, errBackendGone
			}
			pc := &pconn[C]{c: c, inUse: 1}
			p.conns = append(p.conns, pc)
			// The new connection may have call slots to spare (a shared client
			// has many): wake the calls that queued while it was dialing.
			p.signalLocked()
			p.mu.Unlock()
			return pc, false, nil
		}
		if p.wake == nil {
			p.wake = make(chan struct{})
		}
		w := p.wake
		hook := p.onWait
		p.mu.Unlock()
		if hook != nil {
			hook()
		}
		select {
		case <-w:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
		p.mu.Lock()
	}
}

// put returns a connection; broken ones take no new calls and are closed once unused.
func (p *pool[C]) put(pc *pconn[C], broken bool, now int64) {
	p.mu.Lock()
	pc.inUse--
	pc.lastUsed = now
	if broken {
		pc.broken = true
	}
	var toClose *pconn[C]
	if (pc.broken || p.closed) && pc.inUse == 0 && !pc.closed {
		p.removeLocked(pc)
		toClose = pc
	}
	p.signalLocked()
	p.mu.Unlock()
	if toClose != nil {
		toClose.c.Close()
	}
}

// liveLocked counts the connections that take new calls (not broken).
func (p *pool[C]) liveLocked() int {
	n := 0
	for _, c := range p.conns {
		if !c.broken {
			n++
		}
	}
	return n
}

func (p *pool[C]) signalLocked() {
	if p.wake != nil {
		close(p.wake)
		p.wake = nil
	}
}

func (p *pool[C]) removeLocked(pc *pconn[C]) {
	for i, c := range p.conns {
		if c == pc {
			last := len(p.conns) - 1
			p.conns[i] = p.conns[last]
			p.conns[last] = nil
			p.conns = p.conns[:last]
			return
		}
	}
}

// reap closes connections idle for longer than idle while more than min remain.
func (p *pool[C]) reap(now int64, idle int64, min int) {
	var victims []*pconn[C]
	p.mu.Lock()
	for i := 0; i < len(p.conns) && len(p.conns) > min; {
		c := p.conns[i]
		if c.inUse == 0 && now-c.lastUsed > idle {
			p.removeLocked(c)
			victims = append(victims, c)
			continue
		}
		i++
	}
	p.mu.Unlock()
	for _, c := range victims {
		c.c.Close()
	}
}

// fill dials idle connections until the pool holds min; it stops at the first dial error.
func (p *pool[C]) fill(ctx context.Context, addr string, dial Dialer[C], min int, now func() int64) error {
	for {
		p.mu.Lock()
		if p.closed || p.liveLocked()+p.dialing >= min {
			p.mu.Unlock()
			return nil
		}
		p.dialing++
		p.mu.Unlock()
		c, err := dial(ctx, addr)
		p.mu.Lock()
		p.dialing--
		if err != nil {
			p.signalLocked()
			p.mu.Unlock()
			return err
		}
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return nil
		}
		p.conns = append(p.conns, &pconn[C]{c: c, lastUsed: now()})
		p.signalLocked()
		p.mu.Unlock()
	}
}

// close stops new calls and closes idle connections; busy ones close now too
// when inFlight is set, else when returned.
func (p *pool[C]) close(inFlight bool) {
	var victims []*pconn[C]
	p.mu.Lock()
	p.closed = true
	for i := 0; i < len(p.conns); {
		c := p.conns[i]
		if c.inUse == 0 || inFlight {
			c.closed = c.inUse > 0
			p.removeLocked(c)
			victims = append(victims, c)
			continue
		}
		i++
	}
	p.signalLocked()
	p.mu.Unlock()
	for _, c := range victims {
		c.c.Close()
	}
}

// counts returns the number of open connections and how many carry no call.
func (p *pool[C]) counts() (open, idle int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if c.inUse == 0 {
			idle++
		}
	}
	return len(p.conns), idle
}

// invalidate retires every connection: idle ones close now, busy ones when
// returned. Used on ejection, when the connections are most likely broken.
// It wakes the waiting calls, which return errRepick: they were queued for
// a backend that no longer takes calls, and would otherwise wait for every
// call on its retired connections to finish.
func (p *pool[C]) invalidate() {
	var victims []*pconn[C]
	p.mu.Lock()
	p.gen++
	p.signalLocked()
	for i := 0; i < len(p.conns); {
		c := p.conns[i]
		c.broken = true
		if c.inUse == 0 {
			p.removeLocked(c)
			victims = append(victims, c)
			continue
		}
		i++
	}
	p.mu.Unlock()
	for _, c := range victims {
		c.c.Close()
	}
}
