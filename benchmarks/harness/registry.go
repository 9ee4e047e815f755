package harness

import (
	"fmt"
	"sort"
	"sync"
)

// Registry holds named implementations (frameworks, transports) that register
// themselves from init functions. It is safe for concurrent use.
type Registry[T interface{ Name() string }] struct {
	kind string // prefixes panics and errors: "rpc", "kv", "transport"
	noun string // what it holds, for errors: "framework", "transport"
	mu   sync.Mutex
	m    map[string]T
}

// NewRegistry returns an empty registry of nouns whose messages start with kind.
func NewRegistry[T interface{ Name() string }](kind, noun string) *Registry[T] {
	return &Registry[T]{kind: kind, noun: noun, m: map[string]T{}}
}

// Register adds v; it panics when the name is taken (a programming error in an
// init function).
func (r *Registry[T]) Register(v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[v.Name()]; dup {
		panic(r.kind + ": Register called twice for " + v.Name())
	}
	r.m[v.Name()] = v
}

// Names returns the registered names, sorted.
func (r *Registry[T]) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.namesLocked()
}

func (r *Registry[T]) namesLocked() []string {
	names := make([]string, 0, len(r.m))
	for n := range r.m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup returns what is registered under name, or an error naming the
// registered ones.
func (r *Registry[T]) Lookup(name string) (T, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.m[name]
	if !ok {
		var zero T
		return zero, fmt.Errorf("%s: unknown %s %q (have %v)", r.kind, r.noun, name, r.namesLocked())
	}
	return v, nil
}
