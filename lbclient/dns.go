package lbclient

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DNSLookup is the part of *net.Resolver the DNS resolvers use; tests may fake it.
type DNSLookup interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

// DNS resolves a name into endpoints through A/AAAA records (NewDNS) or SRV
// records (NewSRV), again every interval.
type DNS struct {
	lookup   DNSLookup
	interval time.Duration
	host     string // A/AAAA: name to look up
	port     string
	weight   int
	srv      string // SRV: full record name, e.g. "_iip._tcp.example.com"
}

// NewDNS returns a resolver looking up the A and AAAA records of "host:port#weight"
// (weight optional, applied to every address) through lookup (nil:
// net.DefaultResolver) every interval (<= 0: DefaultDNSRefresh). Used by New
// for "dns:///host:port" targets.
func NewDNS(hostport string, lookup DNSLookup, interval time.Duration) (*DNS, error) {
	ep, err := parseEntry(strings.TrimSpace(hostport))
	if err != nil {
		return nil, fmt.Errorf("%w: dns target %q: %s", ErrBadTarget, hostport, err.Error())
	}
	host, port, _ := net.SplitHostPort(ep.Addr)
	return &DNS{lookup: orDefault(lookup), interval: orInterval(interval, DefaultDNSRefresh), host: host, port: port, weight: ep.Weight}, nil
}

// NewSRV returns a resolver looking up the SRV records of name (such as
// "_iip._tcp.example.com") through lookup (nil: net.DefaultResolver) every
// interval (<= 0: DefaultDNSRefresh). Only the records of the lowest priority
// are used; SRV weights are scaled to 1-100 (a zero SRV weight becomes 1). Used
// by New for "srv:///name" targets.
func NewSRV(name string, lookup DNSLookup, interval time.Duration) (*DNS, error) {
	name = strings.TrimSpace(name)
	if name == "" || strings.ContainsAny(name, " ,#/:") {
		return nil, fmt.Errorf("%w: srv target %q is not a DNS name", ErrBadTarget, name)
	}
	return &DNS{lookup: orDefault(lookup), interval: orInterval(interval, DefaultDNSRefresh), srv: name}, nil
}

func orDefault(l DNSLookup) DNSLookup {
	if l == nil {
		return net.DefaultResolver
	}
	return l
}

func orInterval(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Resolve looks the name up once. An answer without any address is an error wrapping ErrResolve.
func (d *DNS) Resolve(ctx context.Context) ([]Endpoint, error) {
	if d.srv != "" {
		return d.resolveSRV(ctx)
	}
	ips, err := d.lookup.LookupNetIP(ctx, "ip", d.host)
	if err != nil {
		return nil, fmt.Errorf("%w: dns %s: %w", ErrResolve, d.host, err)
	}
	eps := make([]Endpoint, 0, len(ips))
	for _, ip := range ips {
		addr := net.JoinHostPort(ip.Unmap().WithZone("").String(), d.port)
		if !slices.ContainsFunc(eps, func(e Endpoint) bool { return e.Addr == addr }) {
			eps = append(eps, Endpoint{Addr: addr, Weight: d.weight})
		}
	}
	if len(eps) == 0 {
		return nil, fmt.Errorf("%w: dns %s: no addresses", ErrResolve, d.host)
	}
	slices.SortFunc(eps, func(a, b Endpoint) int { return strings.Compare(a.Addr, b.Addr) })
	return eps, nil
}

func (d *DNS) resolveSRV(ctx context.Context) ([]Endpoint, error) {
	_, recs, err := d.lookup.LookupSRV(ctx, "", "", d.srv)
	if err != nil {
		return nil, fmt.Errorf("%w: srv %s: %w", ErrResolve, d.srv, err)
	}
	var best []*net.SRV
	for _, r := range recs {
		if r == nil || r.Port == 0 || strings.Trim(r.Target, ".") == "" {
			continue
		}
		if len(best) > 0 && r.Priority > best[0].Priority {
			continue
		}
		if len(best) > 0 && r.Priority < best[0].Priority {
			best = best[:0]
		}
		best = append(best, r)
	}
	if len(best) == 0 {
		return nil, fmt.Errorf("%w: srv %s: no usable records", ErrResolve, d.srv)
	}
	var maxW uint16
	for _, r := range best {
		maxW = max(maxW, r.Weight)
	}
	eps := make([]Endpoint, 0, len(best))
	for _, r := range best {
		w := MaxWeight
		if maxW > 0 {
			w = max(MinWeight, int(r.Weight)*MaxWeight/int(maxW))
		}
		if maxW == 0 || allEqual(best) {
			w = DefaultWeight
		}
		addr := net.JoinHostPort(strings.TrimSuffix(r.Target, "."), strconv.Itoa(int(r.Port)))
		if _, err := parseEntry(addr); err != nil {
			return nil, fmt.Errorf("%w: srv %s: record %q: %s", ErrResolve, d.srv, addr, err.Error())
		}
		if !slices.ContainsFunc(eps, func(e Endpoint) bool { return e.Addr == addr }) {
			eps = append(eps, Endpoint{Addr: addr, Weight: w})
		}
	}
	slices.SortFunc(eps, func(a, b Endpoint) int { return strings.Compare(a.Addr, b.Addr) })
	return eps, nil
}

func allEqual(rs []*net.SRV) bool {
	for _, r := range rs {
		if r.Weight != rs[0].Weight {
			return false
		}
	}
	return true
}

// Watch resolves at once and then every interval until ctx is done.
func (d *DNS) Watch(ctx context.Context, update func([]Endpoint), onErr func(error)) error {
	return poll(ctx, d.interval, d.Resolve, update, onErr)
}
