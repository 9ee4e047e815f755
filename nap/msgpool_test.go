package nap

import "testing"

// TestMessageClasses: every size gets the smallest class that holds it, at
// most 1.5 times its size; a released buffer comes back for a message of its
// class.
func TestMessageClasses(t *testing.T) {
	for n := 1; n <= maxPooled; n = n*5/4 + 1 {
		i := classFor(n)
		if i < 0 || classSize(i) < n || (i > 0 && classSize(i-1) >= n) {
			t.Fatalf("classFor(%d) = %d (size %d)", n, i, classSize(i))
		}
		if limit := 1.5; n > minPooled && float64(classSize(i)) > limit*float64(n) {
			t.Fatalf("class of %d bytes is %d: more than %.1fx", n, classSize(i), limit)
		}
		if limit := 1.125; n > 64<<10 && float64(classSize(i)) > limit*float64(n) {
			t.Fatalf("class of %d bytes is %d: more than %.3fx", n, classSize(i), limit)
		}
		if b := classBelow(classSize(i)); b != i {
			t.Fatalf("classBelow(%d) = %d, want %d", classSize(i), b, i)
		}
	}
	if classFor(maxPooled+1) != -1 {
		t.Fatal("a message beyond the largest class is pooled")
	}
	b := getMessage(100 << 10)
	if len(b) != 100<<10 || cap(b) != classSize(classFor(100<<10)) {
		t.Fatalf("getMessage: len %d cap %d", len(b), cap(b))
	}
	if b := getMessage(maxPooled + 1); cap(b) != maxPooled+1 {
		t.Fatalf("getMessage beyond the classes: cap %d", cap(b))
	}
	putMessage(make([]byte, 10, 100)) // below the smallest class: dropped
	putMessage(b)
}
