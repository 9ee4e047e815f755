package lbclient

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// testPicks is a Set of backends with made-up addresses and p's SetPicker over it.
type testPicks struct {
	backends []*node
	set      *Set
	sp       SetPicker
}

func testSet(p Picker, weights ...int) *testPicks {
	ns := make([]*node, len(weights))
	for i := range weights {
		ns[i] = &node{addr: fmt.Sprintf("10.0.0.%d:7000", i+1)}
	}
	set := newSet(ns, weights)
	return &testPicks{backends: ns, set: set, sp: p.Build(set)}
}

// pick picks for key; all is panic mode (health ignored).
func (tp *testPicks) pick(key string, all bool) int {
	r, err := tp.sp.Pick(PickInfo{Key: key, IgnoreHealth: all, set: tp.set})
	if err != nil {
		panic(err)
	}
	return r.Index
}

func TestRoundRobinSmooth(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		want    string // picks over one period
	}{
		{name: "nginx 5-1-1", weights: []int{5, 1, 1}, want: "0010200"},
		{name: "equal", weights: []int{1, 1, 1}, want: "012"},
		{name: "2-1", weights: []int{2, 1}, want: "010"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := testSet(PickRoundRobin, tc.weights...)
			for round := 0; round < 3; round++ {
				got := ""
				for range tc.want {
					got += strconv.Itoa(s.pick("", false))
				}
				if got != tc.want {
					t.Fatalf("round %d: picks %s, want %s", round, got, tc.want)
				}
			}
		})
	}
}

func TestPickersSkipUnhealthy(t *testing.T) {
	for _, p := range []Picker{PickLeastPending, PickRoundRobin, PickRandom, PickHash} {
		t.Run(p.String(), func(t *testing.T) {
			s := testSet(p, 3, 1, 2)
			s.backends[0].ejectedUntil.Store(1)
			s.backends[2].probeDown.Store(true)
			for i := 0; i < 1000; i++ {
				if got := s.pick(strconv.Itoa(i), false); got != 1 {
					t.Fatalf("pick %d chose unhealthy backend %d", i, got)
				}
			}
			seen := map[int]bool{}
			for i := 0; i < 1000; i++ {
				seen[s.pick(strconv.Itoa(i), true)] = true
			}
			if len(seen) != 3 {
				t.Fatalf("panic mode picked only %v, want all three", seen)
			}
		})
	}
}

func TestLeastPendingPrefersLessLoaded(t *testing.T) {
	s := testSet(PickLeastPending, 1, 1)
	s.backends[0].pending.Store(10)
	counts := [2]int{}
	for i := 0; i < 10000; i++ {
		counts[s.pick("", false)]++
	}
	// The two draws are distinct backends, so the loaded one never wins.
	if counts[0] != 0 {
		t.Fatalf("loaded backend got %d, idle one %d; want the idle one preferred", counts[0], counts[1])
	}
	// Weighted: 4 pending on weight 4 is lighter than 2 pending on weight 1.
	s = testSet(PickLeastPending, 4, 1)
	s.backends[0].pending.Store(4)
	s.backends[1].pending.Store(2)
	counts = [2]int{}
	for i := 0; i < 10000; i++ {
		counts[s.pick("", false)]++
	}
	if counts[0] != 10000 {
		t.Fatalf("weighted load: got %v, want backend 0 (1 pending per weight) over backend 1 (2 per weight)", counts)
	}
}

// With three backends, the most loaded is never picked and the other two share
// the calls by their load.
func TestLeastPendingDistinctDraws(t *testing.T) {
	s := testSet(PickLeastPending, 1, 1, 1)
	s.backends[0].pending.Store(100)
	s.backends[1].pending.Store(1)
	counts := [3]int{}
	for i := 0; i < 9000; i++ {
		counts[s.pick("", false)]++
	}
	if counts[0] != 0 {
		t.Fatalf("backend with 100 pending got %d of 9000 calls; want 0 (%v)", counts[0], counts)
	}
	// Backend 1 wins only the pair {0,1}: a third of the draws.
	if counts[1] < 2500 || counts[1] > 3500 || counts[2] < 5500 {
		t.Fatalf("counts %v, want about [0 3000 6000]", counts)
	}
	// One eligible backend: the second draw finds none and the first is kept.
	s.backends[1].probeDown.Store(true)
	s.backends[2].probeDown.Store(true)
	if got := s.pick("", false); got != 0 {
		t.Fatalf("only backend 0 eligible, picked %d", got)
	}
}

func TestHashStability(t *testing.T) {
	const keys = 20000
	assign := func(s *testPicks) map[string]string {
		m := make(map[string]string, keys)
		for i := 0; i < keys; i++ {
			k := "user-" + strconv.Itoa(i)
			m[k] = s.backends[s.pick(k, false)].addr
		}
		return m
	}
	build := func(addrs []string, weights []int) *testPicks {
		ns := make([]*node, len(addrs))
		for i, a := range addrs {
			ns[i] = &node{addr: a}
		}
		set := newSet(ns, weights)
		return &testPicks{backends: ns, set: set, sp: PickHash.Build(set)}
	}
	var addrs []string
	var weights []int
	for i := 1; i <= 10; i++ {
		addrs = append(addrs, fmt.Sprintf("10.0.0.%d:7000", i))
		weights = append(weights, 1)
	}
	base := assign(build(addrs, weights))

	t.Run("deterministic", func(t *testing.T) {
		// Same endpoints in another order: same assignment.
		rev := make([]string, len(addrs))
		for i, a := range addrs {
			rev[len(addrs)-1-i] = a
		}
		for k, a := range assign(build(rev, weights)) {
			if base[k] != a {
				t.Fatalf("key %s moved from %s to %s after reordering", k, base[k], a)
			}
		}
	})
	t.Run("remove one of 10", func(t *testing.T) {
		gone := addrs[3]
		var rest []string
		for _, a := range addrs {
			if a != gone {
				rest = append(rest, a)
			}
		}
		moved := 0
		for k, a := range assign(build(rest, weights[:9])) {
			if base[k] != a {
				moved++
				if base[k] != gone {
					t.Fatalf("key %s moved from surviving backend %s to %s", k, base[k], a)
				}
			}
		}
		checkShare(t, moved, keys, 1.0/10)
	})
	t.Run("add an 11th", func(t *testing.T) {
		more := append(append([]string(nil), addrs...), "10.0.0.11:7000")
		moved := 0
		for k, a := range assign(build(more, append(append([]int(nil), weights...), 1))) {
			if base[k] != a {
				moved++
				if a != "10.0.0.11:7000" {
					t.Fatalf("key %s moved from %s to old backend %s", k, base[k], a)
				}
			}
		}
		checkShare(t, moved, keys, 1.0/11)
	})
	t.Run("weights", func(t *testing.T) {
		w := append([]int(nil), weights...)
		w[0] = 5 // 5 of 14 units
		counts := map[string]int{}
		for _, a := range assign(build(addrs, w)) {
			counts[a]++
		}
		checkShare(t, counts[addrs[0]], keys, 5.0/14)
	})
}

// checkShare fails unless got/total is within 30% (relative) of want: a hash
// ring with 64 points per backend spreads keys only approximately.
func checkShare(t *testing.T, got, total int, want float64) {
	t.Helper()
	share := float64(got) / float64(total)
	if share < want*0.7 || share > want*1.3 {
		t.Fatalf("share %.4f (%d of %d), want about %.4f", share, got, total, want)
	}
	t.Logf("share %.4f, ideal %.4f", share, want)
}

// firstHealthy is a Picker of a test's own: the first eligible backend, with
// a done callback counting outcomes.
type firstHealthy struct{ outcomes chan DoneInfo }

func (firstHealthy) String() string { return "first" }

func (f firstHealthy) Build(s *Set) SetPicker { return firstHealthySet{s: s, outcomes: f.outcomes} }

type firstHealthySet struct {
	s        *Set
	outcomes chan DoneInfo
}

func (p firstHealthySet) Pick(info PickInfo) (PickResult, error) {
	for i := 0; i < p.s.Len(); i++ {
		if info.Eligible(i) {
			return PickResult{Index: i, Done: func(d DoneInfo) { p.outcomes <- d }}, nil
		}
	}
	return PickResult{}, errors.New("first: nothing eligible")
}

func TestCustomPicker(t *testing.T) {
	a, c := startEcho(t), startEcho(t)
	outcomes := make(chan DoneInfo, 16)
	b := newTestBalancer(t, targetOf([]*echoServer{a, c}, []int{1, 1}), WithPicker(firstHealthy{outcomes}))
	if got := b.String(); !strings.HasPrefix(got, "lbclient.Balancer(first: ") {
		t.Fatalf("String() = %q", got)
	}
	run(t, b, 1, 5, nil)
	if a.served.Load() != 5 || c.served.Load() != 0 {
		t.Fatalf("served %d and %d, want 5 and 0", a.served.Load(), c.served.Load())
	}
	appErr := errors.New("app")
	_ = b.Do(context.Background(), "", func(context.Context, *echoConn) error { return appErr })
	for i := 0; i < 5; i++ {
		if d := <-outcomes; d.Err != nil || d.BackendFailure || d.Latency <= 0 {
			t.Fatalf("outcome %d: %+v", i, d)
		}
	}
	if d := <-outcomes; d.Err != appErr || !d.BackendFailure {
		t.Fatalf("failed call's outcome: %+v, want the error, a backend failure", d)
	}
}
