package lbclient

import (
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Picker is a backend selection policy. The balancer calls Build each time its
// backend set changes and picks with the returned SetPicker until the next
// change. PickLeastPending, PickRoundRobin, PickRandom and PickHash are the
// policies lbclient ships; any other type implementing Picker may be given to
// WithPicker.
type Picker interface {
	// Build returns the picker of one backend set. It is called with the
	// balancer's updates serialised, never concurrently with itself.
	Build(s *Set) SetPicker
	// String names the policy for logs and benchmarks.
	String() string
}

// SetPicker picks backends of one Set. Pick is called concurrently by every
// call and should not allocate.
type SetPicker interface {
	// Pick returns the index in the Set of the backend for a call. It must
	// return an index for which info.Eligible holds when one exists; an
	// error fails the call (use it only for a policy that refuses calls).
	Pick(info PickInfo) (PickResult, error)
}

// PickInfo describes the call being picked for.
type PickInfo struct {
	// Key is the call's key (Do's, Begin's or Pick's): PickHash hashes it; any
	// string, may be empty.
	Key string
	// IgnoreHealth is set when too few backends are healthy (panic mode, see
	// WithPanicThreshold): every backend is then eligible.
	IgnoreHealth bool
	set          *Set
}

// Eligible reports whether backend i of the set may be picked: it is healthy,
// or health is ignored.
func (p PickInfo) Eligible(i int) bool { return p.IgnoreHealth || p.set.nodes[i].healthy() }

// PickResult is a SetPicker's choice.
type PickResult struct {
	// Index is the chosen backend's index in the Set.
	Index int
	// Done, if not nil, is called once with the call's outcome, after the
	// balancer has recorded it (grpc-go's shape: a picker that keeps its own
	// per-call state updates it here).
	Done func(DoneInfo)
}

// DoneInfo is the outcome of a call, given to PickResult.Done.
type DoneInfo struct {
	// Err is the call's error (nil for success).
	Err error
	// BackendFailure is the classifier's verdict on Err (see WithBackendFailure).
	BackendFailure bool
	// Latency is the time from pick to Done.
	Latency time.Duration
}

// Set is the backend set a SetPicker picks from: its membership and weights
// are fixed, health and pending calls are read live.
type Set struct {
	nodes   []*node
	weights []int
	cum     []int // cum[i] = weights[0] + ... + weights[i]
	total   int
}

func newSet(nodes []*node, weights []int) *Set {
	s := &Set{nodes: nodes, weights: weights, cum: make([]int, len(nodes))}
	for i, w := range weights {
		s.total += w
		s.cum[i] = s.total
	}
	return s
}

// Len returns the number of backends.
func (s *Set) Len() int { return len(s.nodes) }

// Addr returns backend i's address.
func (s *Set) Addr(i int) string { return s.nodes[i].addr }

// Weight returns backend i's weight (1-100).
func (s *Set) Weight(i int) int { return s.weights[i] }

// TotalWeight returns the sum of the weights.
func (s *Set) TotalWeight() int { return s.total }

// Pending returns the number of calls picked for backend i and not yet done.
func (s *Set) Pending(i int) int64 { return s.nodes[i].pending.Load() }

// Healthy reports whether backend i is neither ejected nor probe-down.
func (s *Set) Healthy(i int) bool { return s.nodes[i].healthy() }

// The pickers lbclient ships. All honour weights and skip unhealthy backends
// (unless in panic mode).
var (
	// PickLeastPending (the default) draws two distinct backends at random in proportion to
	// their weights and takes the one with fewer pending calls per unit of weight
	// ("power of two choices"). It is load-aware: slow backends get fewer calls.
	PickLeastPending Picker = leastPending{}
	// PickRoundRobin is smooth weighted round robin (as in nginx): over any
	// window of total-weight calls each backend gets exactly its weight, interleaved.
	PickRoundRobin Picker = roundRobin{}
	// PickRandom draws a backend at random in proportion to its weight.
	PickRandom Picker = random{}
	// PickHash maps the call's key onto a consistent-hash ring with
	// VirtualNodes×weight points per backend: a key keeps its backend while that
	// backend is healthy, and adding or removing one of n backends moves about
	// 1/n of the keys. An empty key picks like PickRandom.
	PickHash Picker = hashRing{}
)

// shippedPicker reports whether p is one of the pickers lbclient ships, which all pick
// the only backend of a set of one (a Picker of the caller's own is always asked).
func shippedPicker(p Picker) bool {
	switch p.(type) {
	case leastPending, random, roundRobin, hashRing:
		return true
	}
	return false
}

type leastPending struct{}

func (leastPending) String() string         { return "p2c" }
func (leastPending) Build(s *Set) SetPicker { return leastPendingSet{s} }

type leastPendingSet struct{ s *Set }

func (p leastPendingSet) Pick(info PickInfo) (PickResult, error) {
	return PickResult{Index: p.s.pickLeastPending(info)}, nil
}

type random struct{}

func (random) String() string         { return "random" }
func (random) Build(s *Set) SetPicker { return randomSet{s} }

type randomSet struct{ s *Set }

func (p randomSet) Pick(info PickInfo) (PickResult, error) {
	return PickResult{Index: p.s.pickRandom(info)}, nil
}

type roundRobin struct{}

func (roundRobin) String() string { return "wrr" }
func (roundRobin) Build(s *Set) SetPicker {
	return &roundRobinSet{s: s, cw: make([]int, s.Len())}
}

// roundRobinSet is nginx's smooth weighted round robin over the eligible backends.
type roundRobinSet struct {
	s  *Set
	mu sync.Mutex // guards cw
	cw []int      // current weights
}

func (p *roundRobinSet) Pick(info PickInfo) (PickResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		best, total := -1, 0
		for i, w := range p.s.weights {
			if !info.Eligible(i) {
				continue
			}
			p.cw[i] += w
			total += w
			if best < 0 || p.cw[i] > p.cw[best] {
				best = i
			}
		}
		if best >= 0 {
			p.cw[best] -= total
			return PickResult{Index: best}, nil
		}
		info.IgnoreHealth = true // health changed since the caller counted: balance over all
	}
}

// hashRing is PickHash; vnodes 0 means DefaultVirtualNodes (WithVirtualNodes sets it).
type hashRing struct{ vnodes int }

func (hashRing) String() string { return "hash" }

func (h hashRing) Build(s *Set) SetPicker {
	vn := h.vnodes
	if vn <= 0 {
		vn = DefaultVirtualNodes
	}
	p := &hashSet{s: s, ring: make([]vnode, 0, s.total*vn)}
	for i, n := range s.nodes {
		for v := 0; v < s.weights[i]*vn; v++ {
			p.ring = append(p.ring, vnode{hash: hashString(n.addr + "#" + strconv.Itoa(v)), idx: i})
		}
	}
	sort.Slice(p.ring, func(a, b int) bool {
		if p.ring[a].hash != p.ring[b].hash {
			return p.ring[a].hash < p.ring[b].hash
		}
		return s.nodes[p.ring[a].idx].addr < s.nodes[p.ring[b].idx].addr
	})
	return p
}

type vnode struct {
	hash uint64
	idx  int
}

type hashSet struct {
	s    *Set
	ring []vnode // sorted by hash
}

// Pick walks the ring clockwise from the key's hash to the first eligible backend.
func (p *hashSet) Pick(info PickInfo) (PickResult, error) {
	if info.Key == "" || len(p.ring) == 0 {
		return PickResult{Index: p.s.pickRandom(info)}, nil
	}
	h := hashString(info.Key)
	n := len(p.ring)
	i, j := 0, n // binary search for the first point >= h
	for i < j {
		m := int(uint(i+j) >> 1)
		if p.ring[m].hash < h {
			i = m + 1
		} else {
			j = m
		}
	}
	for k := 0; k < n; k++ {
		v := p.ring[(i+k)%n]
		if info.Eligible(v.idx) {
			return PickResult{Index: v.idx}, nil
		}
	}
	return PickResult{Index: p.ring[i%n].idx}, nil // unreachable: health changed mid-walk
}

// pickRandom draws an eligible backend with probability proportional to its weight.
func (s *Set) pickRandom(info PickInfo) int {
	if info.IgnoreHealth {
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
	if i := s.pickRandomExcept(info, -1); i >= 0 {
		return i
	}
	info.IgnoreHealth = true // health changed since the caller counted: draw over all
	return s.pickRandom(info)
}

// pickLeastPending draws two distinct eligible backends by weight (power of two
// choices) and keeps the one with fewer pending calls per unit of weight (the
// first on a tie, so an idle set is balanced exactly by weight). The second draw
// excludes the first, so with two backends the loaded one is never chosen while
// the other has fewer pending calls per weight.
func (s *Set) pickLeastPending(info PickInfo) int {
	a := s.pickRandom(info)
	if len(s.nodes) == 1 {
		return a
	}
	b := s.pickRandomExcept(info, a)
	if b < 0 { // a is the only eligible backend
		return a
	}
	pa, pb := s.nodes[a].pending.Load(), s.nodes[b].pending.Load()
	if pb*int64(s.weights[a]) < pa*int64(s.weights[b]) {
		return b
	}
	return a
}

// pickRandomExcept draws an eligible backend other than skip (-1: none) with
// probability proportional to its weight, or returns -1 when there is none.
func (s *Set) pickRandomExcept(info PickInfo, skip int) int {
	total := 0
	for i, w := range s.weights {
		if i != skip && info.Eligible(i) {
			total += w
		}
	}
	if total == 0 {
		return -1
	}
	r := rand.IntN(total)
	for i, w := range s.weights {
		if i == skip || !info.Eligible(i) {
			continue
		}
		if r < w {
			return i
		}
		r -= w
	}
	return -1 // health changed mid-scan: keep the first draw
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
