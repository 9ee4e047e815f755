package lbclient

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Weight limits of a target entry. An entry without "#weight" has DefaultWeight.
const (
	MinWeight     = 1
	MaxWeight     = 100
	DefaultWeight = 1
	// maxTargetLen bounds the target text ParseTarget accepts (1 MiB).
	maxTargetLen = 1 << 20
)

// Endpoint is one backend address with its weight (MinWeight..MaxWeight).
type Endpoint struct {
	// Addr is host:port; host may be a name, an IPv4 address or a bracketed IPv6 address.
	Addr string
	// Weight is the relative share of calls (MinWeight..MaxWeight).
	Weight int
}

// String returns the endpoint in target syntax, "host:port#weight".
func (e Endpoint) String() string {
	return e.Addr + "#" + strconv.Itoa(e.Weight)
}

// ParseTarget parses a comma-separated list of "host:port#weight" entries.
// Spaces around entries are ignored; an entry without "#weight" has weight
// DefaultWeight; weights must be integers MinWeight..MaxWeight. A malformed
// entry, an empty entry, an empty list or a duplicate address is an error
// wrapping ErrBadTarget that names the entry, its position (from 1) and what is
// wrong. An "lb:///" prefix, as in dora targets, is accepted and ignored.
func ParseTarget(target string) ([]Endpoint, error) {
	if len(target) > maxTargetLen {
		return nil, fmt.Errorf("%w: target is %d bytes, limit %d", ErrBadTarget, len(target), maxTargetLen)
	}
	target = strings.TrimPrefix(target, schemeStatic)
	if strings.TrimSpace(target) == "" {
		return nil, fmt.Errorf("%w: empty target", ErrBadTarget)
	}
	parts := strings.Split(target, ",")
	eps := make([]Endpoint, 0, len(parts))
	seen := make(map[string]int, len(parts))
	for i, p := range parts {
		ep, err := parseEntry(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d %q: %s", ErrBadTarget, i+1, p, err.Error())
		}
		if j, dup := seen[ep.Addr]; dup {
			return nil, fmt.Errorf("%w: entry %d %q: duplicate of entry %d", ErrBadTarget, i+1, p, j+1)
		}
		seen[ep.Addr] = i
		eps = append(eps, ep)
	}
	return eps, nil
}

// FormatTarget is the inverse of ParseTarget: it joins endpoints as "host:port#weight,...".
func FormatTarget(eps []Endpoint) string {
	var sb strings.Builder
	for i, e := range eps {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(e.String())
	}
	return sb.String()
}

// parseEntry parses one trimmed entry; its errors are plain reasons without prefix.
func parseEntry(s string) (Endpoint, error) {
	if s == "" {
		return Endpoint{}, fmt.Errorf("empty entry")
	}
	addr, weight := s, DefaultWeight
	if i := strings.IndexByte(s, '#'); i >= 0 {
		addr = s[:i]
		ws := s[i+1:]
		w, err := strconv.Atoi(ws)
		if err != nil || w < MinWeight || w > MaxWeight {
			return Endpoint{}, fmt.Errorf("weight %q is not an integer %d-%d", ws, MinWeight, MaxWeight)
		}
		weight = w
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return Endpoint{}, fmt.Errorf("address %q is not host:port", addr)
	}
	if host == "" {
		return Endpoint{}, fmt.Errorf("address %q has an empty host", addr)
	}
	for _, r := range host {
		if r <= ' ' || r == 0x7f || r == '/' || r == ',' || r == '#' || r == '[' || r == ']' {
			return Endpoint{}, fmt.Errorf("host %q contains %q", host, r)
		}
	}
	pn, err := strconv.Atoi(port)
	if err != nil || pn < 1 || pn > 65535 || strconv.Itoa(pn) != port {
		return Endpoint{}, fmt.Errorf("port %q is not a number 1-65535", port)
	}
	return Endpoint{Addr: net.JoinHostPort(host, port), Weight: weight}, nil
}
