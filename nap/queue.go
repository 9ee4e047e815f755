package nap

// streamRing is a FIFO of streams (the writer's round-robin), reusing its
// backing array.
type streamRing struct {
	buf  []*Stream
	head int
	n    int
}

func (r *streamRing) len() int { return r.n }

func (r *streamRing) grow() {
	nb := make([]*Stream, max(16, 2*len(r.buf)))
	for i := 0; i < r.n; i++ {
		nb[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	r.buf, r.head = nb, 0
}

func (r *streamRing) push(st *Stream) {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.buf[(r.head+r.n)%len(r.buf)] = st
	r.n++
}

func (r *streamRing) pop() *Stream {
	st := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return st
}

// each calls f for every queued stream.
func (r *streamRing) each(f func(*Stream)) {
	for i := 0; i < r.n; i++ {
		f(r.buf[(r.head+i)%len(r.buf)])
	}
}
