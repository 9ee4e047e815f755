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

// LocalHost is the host an entry with an empty host (":9090") stands for,
// as in the load-balance lists of deployed IIP configurations and Go's
// net.Dial.
const LocalHost = "localhost"

// ParseTarget parses a comma-separated list of "host:port#weight" entries.
// Spaces around entries are ignored; an entry without "#weight" has weight
// DefaultWeight; weights must be integers MinWeight..MaxWeight.
//
// Two forms that deployed IIP configurations use are accepted
// (":9090#1,:9090#1,:9090#1"): an empty host means LocalHost
// (":9090" is "localhost:9090"), and an address repeated adds its weights
// into one endpoint, so that a server listed n times gets n times the share
// of calls a server listed once gets (three times ":9090#1" is
// "localhost:9090#3"). The summed weight must not exceed MaxWeight. The
// endpoint keeps the position of the address's first entry.
//
// A malformed entry, an empty entry, an empty list, or repeats whose weights
// add up to more than MaxWeight is an error wrapping ErrBadTarget that names
// the entry, its position (from 1) and what is wrong. An "lb:///" prefix, as
// in dora targets, is accepted and ignored.
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
	seen := make(map[string]int, len(parts)) // address -> index in eps
	for i, p := range parts {
		s := strings.TrimSpace(p)
		if strings.HasPrefix(s, ":") {
			s = LocalHost + s
		}
		ep, err := parseEntry(s)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d %q: %s", ErrBadTarget, i+1, p, err.Error())
		}
		if j, dup := seen[ep.Addr]; dup {
			w := eps[j].Weight + ep.Weight
			if w > MaxWeight {
				return nil, fmt.Errorf("%w: entry %d %q: repeats of %s add up to weight %d, over %d", ErrBadTarget, i+1, p, ep.Addr, w, MaxWeight)
			}
			eps[j].Weight = w
			continue
		}
		seen[ep.Addr] = len(eps)
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
