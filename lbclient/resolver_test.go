package lbclient

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/lbclient/internal/testkit"
)

// fakeDNS answers LookupNetIP and LookupSRV from fields the test changes.
type fakeDNS struct {
	mu  sync.Mutex
	ips []netip.Addr
	srv []*net.SRV
	err error
}

func (f *fakeDNS) set(ips []string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ips = nil
	for _, s := range ips {
		f.ips = append(f.ips, netip.MustParseAddr(s))
	}
	f.err = err
}

func (f *fakeDNS) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if network != "ip" || host != "svc.test" {
		return nil, errors.New("fake: unexpected lookup " + network + " " + host)
	}
	return append([]netip.Addr(nil), f.ips...), f.err
}

func (f *fakeDNS) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if service != "" || proto != "" || name != "_iip._tcp.svc.test" {
		return "", nil, errors.New("fake: unexpected srv lookup " + name)
	}
	return name, f.srv, f.err
}

// noDial makes clients that are never called: DNS tests use addresses that must not be contacted.
func noDial(*testing.T) NewClientFunc[*echoConn] {
	return func(addr string) (*echoConn, error) { return &echoConn{addr: addr}, nil }
}

func TestDNSResolver(t *testing.T) {
	tests := []struct {
		name    string
		ips     []string
		err     error
		want    string
		wantErr string
	}{
		{name: "one", ips: []string{"127.0.0.1"}, want: "127.0.0.1:7000#2"},
		{name: "sorted and deduplicated", ips: []string{"192.0.2.2", "127.0.0.1", "::ffff:192.0.2.2"}, want: "127.0.0.1:7000#2,192.0.2.2:7000#2"},
		{name: "v6", ips: []string{"2001:db8::1"}, want: "[2001:db8::1]:7000#2"},
		{name: "empty", ips: nil, wantErr: "no addresses"},
		{name: "error", err: errors.New("servfail"), wantErr: "servfail"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeDNS{}
			f.set(tc.ips, tc.err)
			d, err := NewDNS("svc.test:7000#2", f, 0)
			if err != nil {
				t.Fatal(err)
			}
			eps, err := d.Resolve(context.Background())
			if tc.wantErr != "" {
				if !errors.Is(err, ErrResolve) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Resolve: %v, want ErrResolve with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || FormatTarget(eps) != tc.want {
				t.Fatalf("Resolve = %s, %v; want %s", FormatTarget(eps), err, tc.want)
			}
		})
	}
	if _, err := NewDNS("svc.test", nil, 0); !errors.Is(err, ErrBadTarget) {
		t.Fatalf("NewDNS without port: %v", err)
	}
}

func TestSRVResolver(t *testing.T) {
	tests := []struct {
		name string
		srv  []*net.SRV
		want string
	}{
		{name: "lowest priority, scaled weights", srv: []*net.SRV{
			{Target: "b.svc.test.", Port: 7001, Priority: 10, Weight: 30},
			{Target: "a.svc.test.", Port: 7000, Priority: 10, Weight: 10},
			{Target: "backup.svc.test.", Port: 7002, Priority: 20, Weight: 50},
		}, want: "a.svc.test:7000#33,b.svc.test:7001#100"},
		{name: "equal weights", srv: []*net.SRV{
			{Target: "a.svc.test.", Port: 7000, Weight: 5}, {Target: "b.svc.test.", Port: 7000, Weight: 5},
		}, want: "a.svc.test:7000#1,b.svc.test:7000#1"},
		{name: "zero weight", srv: []*net.SRV{
			{Target: "a.svc.test.", Port: 7000, Weight: 0}, {Target: "b.svc.test.", Port: 7000, Weight: 1000},
		}, want: "a.svc.test:7000#1,b.svc.test:7000#100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewSRV("_iip._tcp.svc.test", &fakeDNS{srv: tc.srv}, 0)
			if err != nil {
				t.Fatal(err)
			}
			eps, err := d.Resolve(context.Background())
			if err != nil || FormatTarget(eps) != tc.want {
				t.Fatalf("Resolve = %s, %v; want %s", FormatTarget(eps), err, tc.want)
			}
		})
	}
	if _, err := (&DNS{lookup: &fakeDNS{}, srv: "_iip._tcp.svc.test"}).Resolve(context.Background()); !errors.Is(err, ErrResolve) {
		t.Fatalf("no records: %v", err)
	}
}

func TestDNSReResolved(t *testing.T) {
	f := &fakeDNS{}
	f.set([]string{"127.0.0.1"}, nil)
	updates := make(chan []Endpoint, 16)
	logs := make(chan string, 16)
	b, err := New("dns:///svc.test:7000", noDial(t), WithDNS(f), WithRefresh(5*time.Millisecond),
		WithOnUpdate(func(eps []Endpoint) { updates <- eps }), WithLogger(slogTo(logs)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := FormatTarget(<-updates); got != "127.0.0.1:7000#1" {
		t.Fatalf("initial set %s", got)
	}
	f.set([]string{"127.0.0.1", "192.0.2.7"}, nil)
	select {
	case eps := <-updates:
		if FormatTarget(eps) != "127.0.0.1:7000#1,192.0.2.7:7000#1" {
			t.Fatalf("re-resolved set %s", FormatTarget(eps))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no re-resolution")
	}
	f.set(nil, errors.New("servfail"))
	select {
	case msg := <-logs:
		if !strings.Contains(msg, "servfail") {
			t.Fatalf("log %q", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("resolver error not logged")
	}
	if len(b.Endpoints()) != 2 {
		t.Fatalf("a failed resolution changed the set to %v", b.Endpoints())
	}
	if _, err := New("srv:///bad name", noDial(t)); !errors.Is(err, ErrBadTarget) {
		t.Fatalf("bad srv target: %v", err)
	}
}

func TestFileResolverWatched(t *testing.T) {
	a, bsrv, c := startEcho(t), startEcho(t), startEcho(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "backends")
	write := func(content string) {
		t.Helper()
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("// backends\n" + a.addr + "\n")
	updates := make(chan []Endpoint, 16)
	logs := make(chan string, 16)
	b := newTestBalancer(t, "file://"+path, WithRefresh(5*time.Millisecond),
		WithOnUpdate(func(eps []Endpoint) { updates <- eps }), WithLogger(slogTo(logs)))
	<-updates
	run(t, b, 1, 10, nil)
	if a.served.Load() != 10 {
		t.Fatalf("a served %d of 10", a.served.Load())
	}

	write(bsrv.addr + "#1,\n; comment\n\n" + c.addr + "#3\n")
	select {
	case eps := <-updates:
		want := []Endpoint{{bsrv.addr, 1}, {c.addr, 3}}
		if !reflect.DeepEqual(eps, want) {
			t.Fatalf("file update gave %v, want %v", eps, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("file change not seen")
	}
	testkit.Recv(t, a.hangup, 5*time.Second, "the removed backend's connection to close")
	run(t, b, 2, 400, nil)
	if a.served.Load() != 10 || bsrv.served.Load()+c.served.Load() != 400 {
		t.Fatalf("served a=%d b=%d c=%d", a.served.Load(), bsrv.served.Load(), c.served.Load())
	}

	write(bsrv.addr + "\nnot-an-address\n")
	select {
	case msg := <-logs:
		if !strings.Contains(msg, `"not-an-address"`) || !strings.Contains(msg, path) {
			t.Fatalf("log %q does not name the file and the entry", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("malformed file not reported")
	}
	if len(b.Endpoints()) != 2 {
		t.Fatalf("a malformed file changed the set to %v", b.Endpoints())
	}
	if _, err := New("file://"+filepath.Join(dir, "missing"), dialEcho); !errors.Is(err, ErrResolve) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// chanResolver is a user resolver: Resolve returns first, Watch delivers what the test sends.
type chanResolver struct {
	first []Endpoint
	next  chan []Endpoint
}

func (r *chanResolver) Resolve(context.Context) ([]Endpoint, error) { return r.first, nil }

func (r *chanResolver) Watch(ctx context.Context, update func([]Endpoint), _ func(error)) error {
	for {
		select {
		case eps := <-r.next:
			update(eps)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func TestUserResolverValidated(t *testing.T) {
	tests := []struct {
		name string
		eps  []Endpoint
		want string
	}{
		{"zero weight", []Endpoint{{"127.0.0.1:7000", 0}}, "weight 0"},
		{"heavy", []Endpoint{{"127.0.0.1:7000", 101}}, "weight 101"},
		{"bad address", []Endpoint{{"127.0.0.1", 1}}, "not host:port"},
		{"duplicate", []Endpoint{{"127.0.0.1:7000", 1}, {"127.0.0.1:7000", 2}}, "duplicate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewWithResolver(&chanResolver{first: tc.eps}, noDial(t))
			if !errors.Is(err, ErrBadTarget) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want ErrBadTarget with %q", err, tc.want)
			}
		})
	}
	t.Run("bad update kept out", func(t *testing.T) {
		r := &chanResolver{first: []Endpoint{{"127.0.0.1:7000", 1}}, next: make(chan []Endpoint)}
		logs := make(chan string, 4)
		b, err := NewWithResolver(r, noDial(t), WithLogger(slogTo(logs)))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		r.next <- []Endpoint{{"127.0.0.1:7000", 1}, {"127.0.0.1:7000", 1}}
		select {
		case msg := <-logs:
			if !strings.Contains(msg, "duplicate") {
				t.Fatalf("log %q", msg)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("invalid update not reported")
		}
		if got := FormatTarget(b.Endpoints()); got != "127.0.0.1:7000#1" {
			t.Fatalf("set changed to %s", got)
		}
	})
}
