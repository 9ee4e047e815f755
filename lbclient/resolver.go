package lbclient

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Target schemes understood by New. A target without a scheme is a static list.
const (
	schemeStatic = "lb:///"
	schemeDNS    = "dns:///"
	schemeSRV    = "srv:///"
	schemeFile   = "file://"
)

// Resolver turns a target into endpoints and reports changes. Implementations
// in this package: Static, DNS and File; users may supply their own through
// NewWithResolver.
type Resolver interface {
	// Resolve returns the current endpoint set; New calls it once and fails on its error.
	Resolve(ctx context.Context) ([]Endpoint, error)
	// Watch calls update with each endpoint set it sees (repeating an unchanged
	// set is allowed) and onErr with each resolution error (the balancer then
	// keeps its current set), until ctx is done; then it returns ctx.Err().
	// update and onErr are never called concurrently by one Watch.
	Watch(ctx context.Context, update func([]Endpoint), onErr func(error)) error
}

// resolverFor builds the resolver for a New target string.
func resolverFor(target string, cfg *config) (Resolver, error) {
	refresh := func(def time.Duration) time.Duration {
		if cfg.refresh > 0 {
			return cfg.refresh
		}
		return def
	}
	switch {
	case strings.HasPrefix(target, schemeDNS):
		return NewDNS(strings.TrimPrefix(target, schemeDNS), cfg.lookup, refresh(DefaultDNSRefresh))
	case strings.HasPrefix(target, schemeSRV):
		return NewSRV(strings.TrimPrefix(target, schemeSRV), cfg.lookup, refresh(DefaultDNSRefresh))
	case strings.HasPrefix(target, schemeFile):
		return NewFile(strings.TrimPrefix(target, schemeFile), refresh(DefaultFilePoll))
	}
	eps, err := ParseTarget(target)
	if err != nil {
		return nil, err
	}
	return NewStatic(eps)
}

// validateEndpoints checks endpoints built in code as ParseTarget checks each entry of
// text, except that a repeated address is an error here (ParseTarget adds the weights of
// repeats into one endpoint) and an address needs its host (ParseTarget reads ":port" as
// LocalHost).
func validateEndpoints(eps []Endpoint) error {
	seen := make(map[string]bool, len(eps))
	for i, e := range eps {
		if e.Weight < MinWeight || e.Weight > MaxWeight {
			return fmt.Errorf("%w: endpoint %d %q: weight %d is not %d-%d", ErrBadTarget, i+1, e.Addr, e.Weight, MinWeight, MaxWeight)
		}
		if _, err := parseEntry(e.Addr); err != nil {
			return fmt.Errorf("%w: endpoint %d %q: %s", ErrBadTarget, i+1, e.Addr, err.Error())
		}
		if seen[e.Addr] {
			return fmt.Errorf("%w: endpoint %d %q: duplicate address", ErrBadTarget, i+1, e.Addr)
		}
		seen[e.Addr] = true
	}
	return nil
}

// Static is a resolver over a fixed list that can be replaced with Set; every
// balancer watching it follows the change at once.
type Static struct {
	mu      sync.Mutex
	eps     []Endpoint
	changed chan struct{} // closed and replaced by Set
}

// NewStatic returns a Static resolver over eps (copied). Invalid weights,
// malformed addresses and duplicates are errors wrapping ErrBadTarget; an empty list is allowed.
func NewStatic(eps []Endpoint) (*Static, error) {
	if err := validateEndpoints(eps); err != nil {
		return nil, err
	}
	return &Static{eps: slices.Clone(eps), changed: make(chan struct{})}, nil
}

// Set replaces the endpoint list (validated like NewStatic; on error nothing changes).
// Calls in flight on removed endpoints finish; their clients close afterwards.
func (s *Static) Set(eps []Endpoint) error {
	if err := validateEndpoints(eps); err != nil {
		return err
	}
	s.mu.Lock()
	s.eps = slices.Clone(eps)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}

// Resolve returns a copy of the current list.
func (s *Static) Resolve(context.Context) ([]Endpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.eps), nil
}

// Watch reports the current list, then each list given to Set, until ctx is done.
func (s *Static) Watch(ctx context.Context, update func([]Endpoint), _ func(error)) error {
	for {
		s.mu.Lock()
		eps, ch := slices.Clone(s.eps), s.changed
		s.mu.Unlock()
		update(eps)
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// poll runs one resolution now and then every interval until ctx is done.
func poll(ctx context.Context, interval time.Duration, resolve func(context.Context) ([]Endpoint, error), update func([]Endpoint), onErr func(error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if eps, err := resolve(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			onErr(err)
		} else {
			update(eps)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
