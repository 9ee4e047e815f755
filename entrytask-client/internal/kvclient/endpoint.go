package kvclient

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DefaultServer is the address etclient dials when no --server is given.
const DefaultServer = "127.0.0.1:7000"

// DefaultWeight is the weight of an endpoint written without "#weight".
const DefaultWeight = 1

// MaxWeight is the largest weight ParseEndpoints accepts (lbclient's limit).
const MaxWeight = 100

// ErrBadEndpoint is wrapped by every error of ParseEndpoints.
var ErrBadEndpoint = errors.New("kvclient: bad server address")

// Endpoint is one etserver instance: its host:port address and its relative weight for the
// balancer.
type Endpoint struct {
	Addr   string
	Weight int
}

// ParseEndpoints parses a server list: one "host:port", or a comma-separated list of
// "host:port#weight" entries (the weight is optional, DefaultWeight when absent, and must be
// 1..MaxWeight). Spaces around entries are ignored; an empty list, an empty entry, a missing
// or non-numeric port, a bad weight and an address listed twice are errors wrapping
// ErrBadEndpoint that quote the offending entry. The rules are lbclient's target syntax, so a
// list that passes here is one the balancer accepts.
func ParseEndpoints(s string) ([]Endpoint, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%w: empty server list", ErrBadEndpoint)
	}
	parts := strings.Split(s, ",")
	eps := make([]Endpoint, 0, len(parts))
	seen := make(map[string]bool, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("%w: empty entry in %q", ErrBadEndpoint, s)
		}
		addr, weight := p, DefaultWeight
		if i := strings.LastIndexByte(p, '#'); i >= 0 {
			addr = p[:i]
			w, err := strconv.Atoi(p[i+1:])
			if err != nil || w < 1 || w > MaxWeight {
				return nil, fmt.Errorf("%w: %q: weight must be an integer in 1..%d", ErrBadEndpoint, p, MaxWeight)
			}
			weight = w
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: want host:port", ErrBadEndpoint, p)
		}
		if host == "" {
			return nil, fmt.Errorf("%w: %q: missing host", ErrBadEndpoint, p)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w: %q: port must be a number in 1..65535", ErrBadEndpoint, p)
		}
		if seen[addr] {
			return nil, fmt.Errorf("%w: %q: address listed twice", ErrBadEndpoint, p)
		}
		seen[addr] = true
		eps = append(eps, Endpoint{Addr: addr, Weight: weight})
	}
	return eps, nil
}
