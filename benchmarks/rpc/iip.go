//go:build !rpcbench_node || rpcbench_iip

package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"

	"github.com/seed857a6cbd/pocket/iip"
)

// The IIP suite's entries. IIP carries raw bytes, not protobuf: the payload is the request
// data and comes back as the response data (the net/http peer of the suite, nethttp,
// still wraps it in protobuf). A zero data length is illegal on IIP's wire, so an empty
// payload travels as "{}" both ways (the client turns it back into an empty payload).
//
//   - iip: one iip.Conn, every caller on channel 0 (calls pipelined, answered in order).
//   - iip-pool: one iip.Client with its defaults (iip.DefaultPoolConns connections ×
//     iip.DefaultPoolChannels channels, one call per channel at a time; more callers wait).
//   - iip-balanced: iip.NewLoadBalanceClient over two iip servers in the server process
//     (the benchmark's listener and a second loopback listener whose address the first
//     server gives out at iipPeersPath), picker and pools at their defaults. Both servers
//     share the server process and its one core, so this measures the balancing layer's
//     cost, not extra server capacity. (lbclient refuses one address listed twice.)
const (
	iipEchoPath  = "/bench/echo"
	iipPeersPath = "/bench/peers"
	iipEmpty     = "{}"
)

type iipMode int

const (
	iipChannel iipMode = iota
	iipPool
	iipBalanced
)

type iipFramework struct {
	name string
	mode iipMode
}

func init() {
	Register(iipFramework{"iip", iipChannel})
	Register(iipFramework{"iip-pool", iipPool})
	Register(iipFramework{"iip-balanced", iipBalanced})
}

func (f iipFramework) Name() string { return f.name }

func iipLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func iipEchoHandler(_ context.Context, req *iip.Request) ([]byte, error) {
	if err := checkPayload(len(req.Data)); err != nil {
		return nil, err
	}
	return req.Data, nil
}

// iipServers are the iip servers of one entry; Close closes them all.
type iipServers struct {
	servers []*iip.Server
	wg      sync.WaitGroup
}

func (s *iipServers) serve(ln net.Listener, peers string) error {
	srv, err := iip.NewServer(iip.WithConfig(iip.Config{MaxMessageSize: MaxPayload + 64}), iip.WithLogger(iipLogger()))
	if err != nil {
		ln.Close()
		return err
	}
	srv.HandleFunc(iipEchoPath, iipEchoHandler)
	if peers != "" {
		srv.HandleFunc(iipPeersPath, func(context.Context, *iip.Request) ([]byte, error) {
			return []byte(peers), nil
		})
	}
	s.servers = append(s.servers, srv)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		// Serve returns ErrServerClosed once Close is called.
		_ = srv.Serve(ln)
	}()
	return nil
}

func (s *iipServers) Close() error {
	var errs []error
	for _, srv := range s.servers {
		errs = append(errs, srv.Close())
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

func (f iipFramework) Serve(ln net.Listener) (io.Closer, error) {
	s := &iipServers{}
	if f.mode != iipBalanced {
		if err := s.serve(ln, ""); err != nil {
			return nil, fmt.Errorf("rpc: %s: %w", f.name, err)
		}
		return s, nil
	}
	second, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("rpc: %s: second server: %w", f.name, err)
	}
	target := "lb:///" + ln.Addr().String() + "," + second.Addr().String()
	if err := s.serve(ln, target); err != nil {
		second.Close()
		return nil, fmt.Errorf("rpc: %s: %w", f.name, err)
	}
	if err := s.serve(second, ""); err != nil {
		s.Close()
		return nil, fmt.Errorf("rpc: %s: second server: %w", f.name, err)
	}
	return s, nil
}

// iipDoer is what the three clients have in common.
type iipDoer interface {
	Do(ctx context.Context, path string, data []byte) ([]byte, error)
	Close() error
}

type iipClient struct{ d iipDoer }

func (f iipFramework) Dial(addr string, _ DialOptions) (Client, error) {
	opts := []iip.ClientOption{iip.WithConfig(iip.Config{MaxMessageSize: MaxPayload + 64}), iip.WithLogger(iipLogger())}
	ctx := context.Background()
	var (
		d   iipDoer
		err error
	)
	switch f.mode {
	case iipChannel:
		d, err = iip.Dial(ctx, addr, opts...)
	case iipPool:
		d, err = iip.NewClient(ctx, addr, opts...)
	case iipBalanced:
		var c *iip.Conn
		if c, err = iip.Dial(ctx, addr, opts...); err != nil {
			break
		}
		var target []byte
		target, err = c.Do(ctx, iipPeersPath, nil)
		c.Close()
		if err != nil {
			break
		}
		d, err = iip.NewLoadBalanceClient(string(target), opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("rpc: %s: %w", f.name, err)
	}
	return iipClient{d}, nil
}

func (c iipClient) Echo(ctx context.Context, payload []byte) ([]byte, error) {
	resp, err := c.d.Do(ctx, iipEchoPath, payload)
	if err != nil {
		return nil, err
	}
	if len(payload) == 0 && string(resp) == iipEmpty {
		return payload, nil
	}
	return resp, nil
}

func (c iipClient) Close() error { return c.d.Close() }
