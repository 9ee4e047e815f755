package dora

import "context"

// MethodHandler runs one unary method: it decodes the request with dec, then calls the
// service implementation srv, through interceptor when it is not nil. Generated code
// provides one per method. dec is valid only until the MethodHandler returns.
type MethodHandler func(srv any, ctx context.Context, dec func(any) error, interceptor UnaryServerInterceptor) (any, error)

// StreamHandler runs one streaming method on stream. Generated code provides one per
// streaming method.
type StreamHandler func(srv any, stream ServerStream) error

// MethodDesc describes a unary method of a service.
type MethodDesc struct {
	// MethodName is the bare method name ("Say").
	MethodName string
	// Handler runs the method.
	Handler MethodHandler
}

// StreamDesc describes a streaming method of a service.
type StreamDesc struct {
	// StreamName is the bare method name ("Count").
	StreamName string
	// Handler runs the method on the server.
	Handler StreamHandler
	// ServerStreams is true when the server sends any number of responses.
	ServerStreams bool
	// ClientStreams is true when the client sends any number of requests.
	ClientStreams bool
}

// ServiceDesc describes a service: its full name and methods. protoc-gen-dora generates one
// per service (named <Service>_ServiceDesc); RegisterService takes it.
type ServiceDesc struct {
	// ServiceName is the fully qualified service name ("echo.Echo"); methods are called as
	// "/echo.Echo/Say".
	ServiceName string
	// HandlerType is a pointer to the service's server interface, used to check that the
	// implementation given to RegisterService implements it.
	HandlerType any
	// Methods are the unary methods.
	Methods []MethodDesc
	// Streams are the streaming methods.
	Streams []StreamDesc
	// Metadata is the .proto file the service was generated from.
	Metadata string
}

// ServiceRegistrar registers service implementations; *Server is one. Generated
// Register<Service>Server functions take it.
type ServiceRegistrar interface {
	RegisterService(desc *ServiceDesc, impl any)
}

// ClientConnInterface is what generated clients call; *Client is one.
type ClientConnInterface interface {
	// Invoke performs a unary call of method ("/package.Service/Method"), sending req and
	// decoding the response into resp.
	Invoke(ctx context.Context, method string, req, resp any, opts ...CallOption) error
	// NewStream opens a streaming call of method.
	NewStream(ctx context.Context, desc *StreamDesc, method string, opts ...CallOption) (ClientStream, error)
}
