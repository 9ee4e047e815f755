package lbclient

import (
	"io"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
)

// backendSet is an immutable snapshot of the backends with the per-snapshot
// state of the pickers (round-robin current weights, hash ring). A resolver
// update builds a new set; picking reads the current one without locks except
// for round robin's short critical section.
type backendSet[C io.Closer] struct {
	backends []*backend[C]
	weights  []int
	cum      []int // cum[i] = weights[0] + ... + weights[i]
	total    int

	mu sync.Mutex // guards cw
	cw []int      // smooth weighted round robin current weights

	ring []vnode // consistent-hash ring, sorted by hash
}

type vnode struct {
	hash uint64
	idx  int
}

func newBackendSet[C io.Closer](bs []*backend[C], weights []int, virtualNodes int, withRing bool) *backendSet[C] {
	s := &backendSet[C]{backends: bs, weights: weights, cum: make([]int, len(bs)), cw: make([]int, len(bs))}
	for i, w := range weights {
		s.total += w
		s.cum[i] = s.total
	}
	if withRing {
		s.ring = make([]vnode, 0, s.total*virtualNodes)
		for i, be := range bs {
			for v := 0; v < weights[i]*virtualNodes; v++ {
				s.ring = append(s.ring, vnode{hash: hashString(be.addr + "#" + strconv.Itoa(v)), idx: i})
			}
		}
		sort.Slice(s.ring, func(a, b int) bool {
			if s.ring[a].hash != s.ring[b].hash {
				return s.ring[a].hash < s.ring[b].hash
			}
			return s.backends[s.ring[a].idx].addr < s.backends[s.ring[b].idx].addr
		})
	}
	return s
}

// eligible reports whether backend i may be picked; all is panic mode.
func (s *backendSet[C]) eligible(i int, all bool) bool {
	return all || s.backends[i].healthy()
}

// pick returns the index of the chosen backend. At least one backend is
// eligible (all is true when none is healthy).
func (s *backendSet[C]) pick(p Picker, key string, all bool) int {
	switch p {
	case PickRoundRobin:
		return s.pickRoundRobin(all)
	case PickRandom:
		return s.pickRandom(all)
	case PickHash:
		if key == "" {
			return s.pickRandom(all)
		}
		return s.pickHash(key, all)
	}
	return s.pickLeastPending(all)
}

// pickRoundRobin is nginx's smooth weighted round robin over the eligible backends.
func (s *backendSet[C]) pickRoundRobin(all bool) int {
	s.mu.Lock()
	best, total := -1, 0
	for i, w := range s.weights {
		if !s.eligible(i, all) {
			continue
		}
		s.cw[i] += w
		total += w
		if best < 0 || s.cw[i] > s.cw[best] {
			best = i
		}
	}
	if best < 0 { // health changed since the caller counted: balance over all
		s.mu.Unlock()
		return s.pickRoundRobin(true)
	}
	s.cw[best] -= total
	s.mu.Unlock()
	return best
}

// pickRandom draws an eligible backend with probability proportional to its weight.
func (s *backendSet[C]) pickRandom(all bool) int {
	if all {
		r := rand.IntN(s.total) + 1 // first i with cum[i] >= r
		i, j := 0, len(s.cum)
		for i < j {
			m := int(uint(i+j) >> 1)
			if s.cum[m] < r {
				i = m + 1
			} else {
				j = m
			}
		}
		return i
	}
	total := 0
	for i, w := range s.weights {
		if s.eligible(i, false) {
			total += w
		}
	}
	if total == 0 { // health changed since the caller counted: draw over all
		return s.pickRandom(true)
	}
	r := rand.IntN(total)
	for i, w := range s.weights {
		if !s.eligible(i, false) {
			continue
		}
		if r < w {
			return i
		}
		r -= w
	}
	return len(s.weights) - 1 // unreachable: health changed mid-scan; any backend will do
}

// pickLeastPending draws two distinct eligible backends by weight (power of two
// choices) and keeps the one with fewer pending calls per unit of weight (the
// first on a tie, so an idle set is balanced exactly by weight). The second draw
// excludes the first, so with two backends the loaded one is never chosen while
// the other has fewer pending calls per weight.
func (s *backendSet[C]) pickLeastPending(all bool) int {
	a := s.pickRandom(all)
	if len(s.backends) == 1 {
		return a
	}
	b := s.pickRandomExcept(all, a)
	if b < 0 { // a is the only eligible backend
		return a
	}
	pa, pb := s.backends[a].pending.Load(), s.backends[b].pending.Load()
	if pb*int64(s.weights[a]) < pa*int64(s.weights[b]) {
		return b
	}
	return a
}

// pickRandomExcept draws an eligible backend other than skip with probability
// proportional to its weight, or returns -1 when skip is the only eligible one.
func (s *backendSet[C]) pickRandomExcept(all bool, skip int) int {
	total := 0
	for i, w := range s.weights {
		if i != skip && s.eligible(i, all) {
			total += w
		}
	}
	if total == 0 {
		return -1
	}
	r := rand.IntN(total)
	for i, w := range s.weights {
		if i == skip || !s.eligible(i, all) {
			continue
		}
		if r < w {
			return i
		}
		r -= w
	}
	return -1 // health changed mid-scan: keep the first draw
}

// pickHash walks the ring clockwise from the key's hash to the first eligible backend.
func (s *backendSet[C]) pickHash(key string, all bool) int {
	h := hashString(key)
	n := len(s.ring)
	i, j := 0, n // binary search for the first point >= h
	for i < j {
		m := int(uint(i+j) >> 1)
		if s.ring[m].hash < h {
			i = m + 1
		} else {
			j = m
		}
	}
	for k := 0; k < n; k++ {
		v := s.ring[(i+k)%n]
		if s.eligible(v.idx, all) {
			return v.idx
		}
	}
	return s.ring[i%n].idx // unreachable: health changed mid-walk
}

// hashString is 64-bit FNV-1a followed by a murmur3-style finalizer that spreads
// the bits of short, similar keys over the ring.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9f53a5fe63b
	h ^= h >> 33
	return h
}
