//go:build !rpcbench_node || rpcbench_nethttp

package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"google.golang.org/protobuf/proto"

	"github.com/seed857a6cbd/pocket/benchmarks/internal/echopb"
)

// nethttpFramework is net/http (HTTP/1.1, keep-alive) carrying protobuf bodies: POST
// /echo. HTTP/1.1 has one call in flight per connection, so the client's pool keeps as
// many idle connections as there are callers.
type nethttpFramework struct{}

const (
	nethttpPath        = "/echo"
	nethttpContentType = "application/x-protobuf"
)

func init() { Register(nethttpFramework{}) }

func (nethttpFramework) Name() string { return "nethttp" }

func nethttpEcho(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "rpc: nethttp: method "+r.Method+" not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxPayload+64))
	if err != nil {
		http.Error(w, "rpc: nethttp: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	req := &echopb.EchoRequest{}
	if err := proto.Unmarshal(body, req); err != nil {
		http.Error(w, "rpc: nethttp: "+err.Error(), http.StatusBadRequest)
		return
	}
	out, err := proto.Marshal(&echopb.EchoResponse{Payload: req.GetPayload()})
	if err != nil {
		http.Error(w, "rpc: nethttp: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", nethttpContentType)
	// A failed write means the client went away.
	_, _ = w.Write(out)
}

type nethttpServer struct {
	s    *http.Server
	done chan struct{}
}

func (nethttpFramework) Serve(ln net.Listener) (io.Closer, error) {
	mux := http.NewServeMux()
	mux.HandleFunc(nethttpPath, nethttpEcho)
	s := &nethttpServer{s: &http.Server{Handler: mux}, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		// Serve returns http.ErrServerClosed when Close is called.
		_ = s.s.Serve(ln)
	}()
	return s, nil
}

func (s *nethttpServer) Close() error {
	err := s.s.Close()
	<-s.done
	return err
}

type nethttpClient struct {
	url string
	tr  *http.Transport
	c   *http.Client
}

func (nethttpFramework) Dial(addr string, opts DialOptions) (Client, error) {
	n := max(opts.Concurrency, 1)
	tr := &http.Transport{
		DialContext:         (&net.Dialer{}).DialContext,
		MaxIdleConns:        n,
		MaxIdleConnsPerHost: n,
		DisableCompression:  true,
	}
	return &nethttpClient{url: "http://" + addr + nethttpPath, tr: tr, c: &http.Client{Transport: tr}}, nil
}

func (h *nethttpClient) Echo(ctx context.Context, payload []byte) ([]byte, error) {
	body, err := proto.Marshal(&echopb.EchoRequest{Payload: payload})
	if err != nil {
		return nil, fmt.Errorf("rpc: nethttp: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("rpc: nethttp: %w", err)
	}
	req.Header.Set("Content-Type", nethttpContentType)
	resp, err := h.c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("rpc: nethttp: %w", err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, MaxPayload+64+1))
	if err != nil {
		return nil, fmt.Errorf("rpc: nethttp: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("rpc: nethttp: status %s: %s", resp.Status, bytes.TrimSpace(out))
	}
	if len(out) > MaxPayload+64 {
		return nil, errors.New("rpc: nethttp: response exceeds the payload limit")
	}
	r := &echopb.EchoResponse{}
	if err := proto.Unmarshal(out, r); err != nil {
		return nil, fmt.Errorf("rpc: nethttp: %w", err)
	}
	return r.GetPayload(), nil
}

func (h *nethttpClient) Close() error {
	h.tr.CloseIdleConnections()
	return nil
}
