package dora

import (
	"context"

	"github.com/seed857a6cbd/pocket/dora/metadata"
)

// ClientStream is the client side of a streaming call. SendMsg and CloseSend may be called
// from one goroutine while RecvMsg is called from another; two goroutines must not call
// SendMsg (or RecvMsg) at the same time.
type ClientStream interface {
	// Header waits for and returns the server's response header metadata.
	Header() (metadata.MD, error)
	// Trailer returns the trailer metadata; it is complete once RecvMsg returned an error
	// (io.EOF included).
	Trailer() metadata.MD
	// CloseSend tells the server no more requests come.
	CloseSend() error
	// Context is the call's context.
	Context() context.Context
	// SendMsg sends one request. It returns io.EOF when the stream is over for a reason the
	// next RecvMsg reports.
	SendMsg(m any) error
	// RecvMsg receives one response into m; io.EOF after the last one when the call
	// succeeded, otherwise the call's status error.
	RecvMsg(m any) error
}

// ServerStream is the server side of a streaming call.
type ServerStream interface {
	// SetHeader adds md to the response header, sent with the first message or SendHeader.
	SetHeader(md metadata.MD) error
	// SendHeader sends the response header (plus md) now; only once.
	SendHeader(md metadata.MD) error
	// SetTrailer adds md to the trailer sent with the call's status.
	SetTrailer(md metadata.MD)
	// Context is the call's context: incoming metadata, deadline, cancellation.
	Context() context.Context
	// SendMsg sends one response.
	SendMsg(m any) error
	// RecvMsg receives one request into m; io.EOF when the client closed its side.
	RecvMsg(m any) error
}

// ServerStreamingClient is the client side of a call with one request and a stream of
// responses (generated clients return it).
type ServerStreamingClient[Res any] interface {
	// Recv returns the next response; io.EOF after the last one.
	Recv() (*Res, error)
	ClientStream
}

// ClientStreamingClient is the client side of a call with a stream of requests and one
// response.
type ClientStreamingClient[Req any, Res any] interface {
	// Send sends one request.
	Send(*Req) error
	// CloseAndRecv closes the sending side and waits for the response.
	CloseAndRecv() (*Res, error)
	ClientStream
}

// BidiStreamingClient is the client side of a call with streams both ways.
type BidiStreamingClient[Req any, Res any] interface {
	// Send sends one request.
	Send(*Req) error
	// Recv returns the next response; io.EOF after the last one.
	Recv() (*Res, error)
	ClientStream
}

// ServerStreamingServer is the server side of a call with one request and a stream of
// responses.
type ServerStreamingServer[Res any] interface {
	// Send sends one response.
	Send(*Res) error
	ServerStream
}

// ClientStreamingServer is the server side of a call with a stream of requests and one
// response.
type ClientStreamingServer[Req any, Res any] interface {
	// Recv returns the next request; io.EOF when the client is done.
	Recv() (*Req, error)
	// SendAndClose sends the one response. The handler then returns nil.
	SendAndClose(*Res) error
	ServerStream
}

// BidiStreamingServer is the server side of a call with streams both ways.
type BidiStreamingServer[Req any, Res any] interface {
	// Recv returns the next request; io.EOF when the client is done.
	Recv() (*Req, error)
	// Send sends one response.
	Send(*Res) error
	ServerStream
}

// GenericClientStream adapts a ClientStream to the typed client interfaces; generated code
// uses it.
type GenericClientStream[Req any, Res any] struct {
	ClientStream
}

// Send sends one request.
func (x *GenericClientStream[Req, Res]) Send(m *Req) error { return x.ClientStream.SendMsg(m) }

// Recv receives one response.
func (x *GenericClientStream[Req, Res]) Recv() (*Res, error) {
	m := new(Res)
	if err := x.ClientStream.RecvMsg(m); err != nil {
		return nil, err
	}
	return m, nil
}

// CloseAndRecv closes the sending side and receives the one response.
func (x *GenericClientStream[Req, Res]) CloseAndRecv() (*Res, error) {
	if err := x.ClientStream.CloseSend(); err != nil {
		return nil, err
	}
	m := new(Res)
	if err := x.ClientStream.RecvMsg(m); err != nil {
		return nil, err
	}
	return m, nil
}

// GenericServerStream adapts a ServerStream to the typed server interfaces; generated code
// uses it.
type GenericServerStream[Req any, Res any] struct {
	ServerStream
}

// Send sends one response.
func (x *GenericServerStream[Req, Res]) Send(m *Res) error { return x.ServerStream.SendMsg(m) }

// SendAndClose sends the one response of a client-streaming call.
func (x *GenericServerStream[Req, Res]) SendAndClose(m *Res) error {
	return x.ServerStream.SendMsg(m)
}

// Recv receives one request.
func (x *GenericServerStream[Req, Res]) Recv() (*Req, error) {
	m := new(Req)
	if err := x.ServerStream.RecvMsg(m); err != nil {
		return nil, err
	}
	return m, nil
}
