package iip

import (
	"context"
	"io"
	"net/url"
	"sync/atomic"
)

// Request is one complete request as a handler sees it. The *Request is
// reused once the handler returns: keep Data (or copies of the fields),
// not the pointer.
type Request struct {
	// Path is the request path without its query string.
	Path string
	// RawPath is the path exactly as received, query included; the
	// response repeats it.
	RawPath string
	// Query is the parsed query string; nil when the path has none.
	Query url.Values
	// Data is the request payload. It belongs to the handler, which may
	// keep it or return it as the response. A peer that had nothing to send
	// sends "{}". Payloads from 1/16 to 1/2 of ReadBufferSize are slices of
	// the connection's read buffer (no copy); keeping one keeps that buffer
	// alive, so copy what is kept for long.
	Data []byte
	// Channel is the channel the request arrived on.
	Channel uint32
	// RemoteAddr is the peer's address.
	RemoteAddr string
}

// Handler answers requests. A handler returning a non-nil error makes the
// response an error response: an *Error keeps its code, any other error is
// sent as code 102 (handler error). Returning (nil, nil) or an empty
// response with a nil error is answered with code 101 (no response) toward
// existing peers, and as an empty response toward our own client.
//
// Toward a client without the typed-errors capability (a deployed one)
// errors take the shapes deployed servers send: code 102 becomes
// {"code":-1,"message":"handler fail:..."}, code 105 becomes
// {"code":102,"message":"handle error"} and a panic code 101.
type Handler interface {
	ServeIIP(ctx context.Context, req *Request) ([]byte, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req *Request) ([]byte, error)

// ServeIIP calls f(ctx, req).
func (f HandlerFunc) ServeIIP(ctx context.Context, req *Request) ([]byte, error) {
	return f(ctx, req)
}

// StreamRequest is a request delivered to a streaming handler while it is
// still arriving: Next returns the data chunk by chunk (one chunk per
// frame, at most 16 MiB each) and io.EOF after the last one.
type StreamRequest struct {
	// Path is the request path without its query string.
	Path string
	// RawPath is the path as received, query included.
	RawPath string
	// Query is the parsed query string; nil when the path has none.
	Query url.Values
	// Channel is the channel the request arrives on.
	Channel uint32
	// RemoteAddr is the peer's address.
	RemoteAddr string

	chunks  chan []byte
	err     error         // set before chunks is closed on failure
	size    atomic.Int64  // bytes read so far: written by the reader, read for the statistics (the handler may return first)
	release func(n int64) // gives a delivered chunk's bytes back to the budgets
}

// Next returns the next chunk of the request data, or io.EOF once all of
// it was delivered. It returns an error wrapping ErrConnLost when the
// connection broke before the request was complete, or ctx's error.
func (s *StreamRequest) Next(ctx context.Context) ([]byte, error) {
	select {
	case b, ok := <-s.chunks:
		if !ok {
			if s.err != nil {
				return nil, s.err
			}
			return nil, io.EOF
		}
		if s.release != nil {
			s.release(int64(len(b)))
		}
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// route is one registered path.
type route struct {
	path   string
	h      Handler
	stream func(ctx context.Context, req *StreamRequest) ([]byte, error)
	// respStream, when set, streams the response (HandleStreamResponse).
	respStream func(ctx context.Context, req *Request, w *StreamWriter) error
	stats      *pathStats
	// respEst estimates the size of the next response: the last one, or
	// a slowly decaying larger one. A handler is counted in the write
	// budgets from its start with it. Until known, one handler of the
	// route runs first (probing) and the others wait for it, at most
	// probeWait, so that a first burst cannot allocate responses blind.
	respEst atomic.Int64
	known   atomic.Bool
	probing atomic.Bool
}
