package kvclient_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/testkit"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
	"github.com/seed857a6cbd/pocket/lbclient"
)

func dialLegacyT(t *testing.T, addr string) kvclient.Client {
	t.Helper()
	c, err := kvclient.Dial(context.Background(), kvclient.Options{
		Endpoints: []lbclient.Endpoint{{Addr: addr, Weight: 1}}, DialTimeout: 5 * time.Second, Legacy: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestLegacyCalls: the legacy client's calls reach the dora server as a previous-version
// client's (bare method names, metadata token and username) and get its answers, many at
// once on one connection.
func TestLegacyCalls(t *testing.T) {
	srv, addr := startScripted(t)
	c := dialLegacyT(t, addr)
	if tok, err := c.Login(ctxT(t), "ann", "pw"); err != nil || tok != "tok-ann" {
		t.Fatalf("Login = %q, %v", tok, err)
	}
	if err := c.Write(ctxT(t), "t1", "ann", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if tok, _ := srv.md().Lookup("token"); tok != "t1" {
		t.Fatalf("write sent metadata %v, want token t1", srv.md())
	}
	if u, _ := srv.md().Lookup("username"); u != "ann" {
		t.Fatalf("write sent metadata %v, want username ann", srv.md())
	}
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				key := fmt.Sprintf("k%d-%d", i, j)
				v, err := c.Read(ctxT(t), "t1", "", key)
				if err == nil && v != "v-"+key {
					err = fmt.Errorf("Read(%s) = %q", key, v)
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
}

// TestLegacyErrorMapping: application statuses travel in the response; transport codes
// come back in the legacy numbering, so some merge (ResourceExhausted is Unavailable).
func TestLegacyErrorMapping(t *testing.T) {
	srv, addr := startScripted(t)
	c := dialLegacyT(t, addr)
	tests := []struct {
		name     string
		status   *kvpb.Status
		err      error
		wantCode kvclient.Code
	}{
		{"key not exist", &kvpb.Status{Code: kvpb.CODE_KEY_NOT_EXIST, Message: "key does not exist"}, nil, kvclient.CodeKeyNotExist},
		{"unauthenticated", nil, status.Error(codes.Unauthenticated, "missing session token"), kvclient.Code(codes.Unauthenticated)},
		{"over quota", nil, status.Error(codes.ResourceExhausted, "read quota exceeded"), kvclient.Code(codes.Unavailable)},
		{"invalid argument", nil, status.Error(codes.InvalidArgument, "key is 4097 bytes, limit 4096"), kvclient.Code(codes.InvalidArgument)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.set(tt.status, tt.err)
			_, err := c.Read(ctxT(t), "t", "ann", "k")
			if code := kvclient.CodeOf(err); code != tt.wantCode {
				t.Fatalf("Read: %v (code %v), want %v", err, code, tt.wantCode)
			}
		})
	}
}

func TestLegacyContextEndsAndClose(t *testing.T) {
	srv, addr := startScripted(t)
	c := dialLegacyT(t, addr)
	srv.mu.Lock()
	srv.block = make(chan struct{})
	srv.arrived = make(chan struct{}, 1)
	srv.mu.Unlock()
	dctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Read(dctx, "t", "ann", "k"); kvclient.CodeOf(err) != kvclient.Code(codes.DeadlineExceeded) {
		t.Fatalf("read past its deadline: %v", err)
	}
	<-srv.arrived // the first call's
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(context.Background(), "t", "ann", "k")
		errc <- err
	}()
	// Once the server holds the call, close: the call fails Unavailable.
	select {
	case <-srv.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("second call never reached the server")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, kvclient.ErrUnavailable) {
		t.Fatalf("call racing Close: %v, want UNAVAILABLE", err)
	}
	close(srv.block)
	if err := c.Write(ctxT(t), "t", "ann", "k", "v"); !errors.Is(err, kvclient.ErrUnavailable) {
		t.Fatalf("write after Close: %v, want UNAVAILABLE", err)
	}
}

func TestLegacyServerDown(t *testing.T) {
	c := dialLegacyT(t, testkit.ClosedAddr(t))
	if _, err := c.Login(ctxT(t), "ann", "pw"); kvclient.CodeOf(err) != kvclient.Code(codes.Unavailable) {
		t.Fatalf("login to a closed port: %v, want UNAVAILABLE", err)
	}
}

func TestLegacyDialRefuses(t *testing.T) {
	one := []lbclient.Endpoint{{Addr: "127.0.0.1:1", Weight: 1}}
	tests := []struct {
		name string
		opts kvclient.Options
	}{
		{"two endpoints", kvclient.Options{Legacy: true, Endpoints: append(one, lbclient.Endpoint{Addr: "127.0.0.1:2", Weight: 1})}},
		{"TLS", kvclient.Options{Legacy: true, Endpoints: one, TLS: &tls.Config{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := kvclient.Dial(context.Background(), tt.opts)
			if c != nil || !errors.Is(err, kvclient.ErrBadEndpoint) || !strings.HasPrefix(err.Error(), "kvclient: ") {
				t.Fatalf("Dial = %v, %v; want ErrBadEndpoint", c, err)
			}
		})
	}
}
