package lbclient

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// dnsServer is a minimal authoritative DNS server over UDP on 127.0.0.1,
// written with the standard library only. It answers A queries for "svc.test."
// and SRV queries for "_iip._tcp.svc.test." from records the test changes;
// every other question gets NXDOMAIN, AAAA gets an empty answer.
type dnsServer struct {
	pc   net.PacketConn
	done chan struct{}

	mu  sync.Mutex
	a   []netip.Addr
	srv []*net.SRV
}

func startDNS(t *testing.T) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{pc: pc, done: make(chan struct{})}
	go s.serve()
	t.Cleanup(func() { pc.Close(); <-s.done })
	return s
}

// resolver returns a pure-Go *net.Resolver that sends every query to s.
func (s *dnsServer) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.pc.LocalAddr().String())
	}}
}

func (s *dnsServer) set(a []string, srv []*net.SRV) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.a = nil
	for _, ip := range a {
		s.a = append(s.a, netip.MustParseAddr(ip))
	}
	s.srv = srv
}

func (s *dnsServer) serve() {
	defer close(s.done)
	buf := make([]byte, 1500)
	for {
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp, ok := s.answer(buf[:n]); ok {
			s.pc.WriteTo(resp, from)
		}
	}
}

const (
	dnsTypeA    = 1
	dnsTypeAAAA = 28
	dnsTypeSRV  = 33
)

// answer builds the response to one query; ok is false for unparseable input.
func (s *dnsServer) answer(q []byte) ([]byte, bool) {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil, false
	}
	// The question: labels up to the root, then type and class.
	i := 12
	var labels []string
	for {
		if i >= len(q) {
			return nil, false
		}
		l := int(q[i])
		i++
		if l == 0 {
			break
		}
		if l > 63 || i+l > len(q) {
			return nil, false
		}
		labels = append(labels, strings.ToLower(string(q[i:i+l])))
		i += l
	}
	if i+4 > len(q) {
		return nil, false
	}
	name, qtype := strings.Join(labels, "."), binary.BigEndian.Uint16(q[i:])
	question := q[12 : i+4]

	s.mu.Lock()
	var answers [][]byte // type + rdata
	rcode := uint16(0)
	switch {
	case name == "svc.test" && qtype == dnsTypeA:
		for _, a := range s.a {
			if a.Is4() {
				b := a.As4()
				answers = append(answers, rr(dnsTypeA, b[:]))
			}
		}
	case name == "svc.test" && qtype == dnsTypeAAAA:
	case name == "_iip._tcp.svc.test" && qtype == dnsTypeSRV:
		for _, r := range s.srv {
			rd := binary.BigEndian.AppendUint16(nil, r.Priority)
			rd = binary.BigEndian.AppendUint16(rd, r.Weight)
			rd = binary.BigEndian.AppendUint16(rd, r.Port)
			for _, l := range strings.Split(strings.TrimSuffix(r.Target, "."), ".") {
				rd = append(rd, byte(len(l)))
				rd = append(rd, l...)
			}
			rd = append(rd, 0)
			answers = append(answers, rr(dnsTypeSRV, rd))
		}
	default:
		rcode = 3 // NXDOMAIN
	}
	s.mu.Unlock()

	resp := make([]byte, 12, 512)
	copy(resp, q[:2])                                  // ID
	binary.BigEndian.PutUint16(resp[2:], 0x8400|rcode) // response, authoritative
	binary.BigEndian.PutUint16(resp[4:], 1)
	binary.BigEndian.PutUint16(resp[6:], uint16(len(answers)))
	resp = append(resp, question...)
	for _, a := range answers {
		resp = append(resp, 0xc0, 12) // name: pointer to the question
		resp = append(resp, a...)
	}
	return resp, true
}

// rr encodes type, class IN, TTL 1 s, and rdata with its length.
func rr(typ uint16, rdata []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, typ)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(rdata)))
	return append(b, rdata...)
}

func TestDNSOverLoopbackServer(t *testing.T) {
	s := startDNS(t)
	s.set([]string{"127.0.0.1"}, []*net.SRV{
		{Target: "a.svc.test.", Port: 7001, Priority: 1, Weight: 10},
		{Target: "b.svc.test.", Port: 7002, Priority: 1, Weight: 20},
	})
	updates := make(chan []Endpoint, 16)
	b, err := New("dns:///svc.test:7000#4", noDial(t), WithDNS(s.resolver()), WithRefresh(5*time.Millisecond),
		WithLogger(quiet), WithOnUpdate(func(eps []Endpoint) { updates <- eps }))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := FormatTarget(<-updates); got != "127.0.0.1:7000#4" {
		t.Fatalf("initial set %s", got)
	}
	s.set([]string{"127.0.0.1", "192.0.2.9"}, nil)
	select {
	case eps := <-updates:
		if got := FormatTarget(eps); got != "127.0.0.1:7000#4,192.0.2.9:7000#4" {
			t.Fatalf("re-resolved set %s", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("A records not re-resolved")
	}

	s.set(nil, []*net.SRV{
		{Target: "a.svc.test.", Port: 7001, Priority: 1, Weight: 10},
		{Target: "b.svc.test.", Port: 7002, Priority: 1, Weight: 20},
	})
	srv, err := NewSRV("_iip._tcp.svc.test", s.resolver(), 0)
	if err != nil {
		t.Fatal(err)
	}
	eps, err := srv.Resolve(context.Background())
	if err != nil || FormatTarget(eps) != "a.svc.test:7001#50,b.svc.test:7002#100" {
		t.Fatalf("SRV: %s, %v", FormatTarget(eps), err)
	}
	s.set(nil, nil)
	if _, err := srv.Resolve(context.Background()); !errors.Is(err, ErrResolve) {
		t.Fatalf("SRV without records: %v", err)
	}
}
