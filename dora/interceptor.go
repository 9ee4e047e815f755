package dora

import "context"

// UnaryServerInfo tells a unary server interceptor which call it wraps.
type UnaryServerInfo struct {
	// Server is the service implementation.
	Server any
	// FullMethod is "/package.Service/Method".
	FullMethod string
}

// UnaryHandler is the rest of a unary server chain: the next interceptor, finally the method.
type UnaryHandler func(ctx context.Context, req any) (any, error)

// UnaryServerInterceptor wraps unary calls on the server. It must call handler to run the
// method (or return without calling it to refuse the call).
type UnaryServerInterceptor func(ctx context.Context, req any, info *UnaryServerInfo, handler UnaryHandler) (resp any, err error)

// StreamServerInfo tells a stream server interceptor which call it wraps.
type StreamServerInfo struct {
	// FullMethod is "/package.Service/Method".
	FullMethod string
	// IsClientStream is true when the client sends a stream of requests.
	IsClientStream bool
	// IsServerStream is true when the server sends a stream of responses.
	IsServerStream bool
}

// StreamServerInterceptor wraps streaming calls on the server; it must call handler to run
// the method.
type StreamServerInterceptor func(srv any, ss ServerStream, info *StreamServerInfo, handler StreamHandler) error

// UnaryInvoker is the rest of a unary client chain: the next interceptor, finally the call.
type UnaryInvoker func(ctx context.Context, method string, req, resp any, opts ...CallOption) error

// UnaryClientInterceptor wraps unary calls on the client; it must call invoker to make the call.
type UnaryClientInterceptor func(ctx context.Context, method string, req, resp any, invoker UnaryInvoker, opts ...CallOption) error

// Streamer opens a client stream: the rest of a stream client chain.
type Streamer func(ctx context.Context, desc *StreamDesc, method string, opts ...CallOption) (ClientStream, error)

// StreamClientInterceptor wraps the opening of client streams; it must call streamer.
type StreamClientInterceptor func(ctx context.Context, desc *StreamDesc, method string, streamer Streamer, opts ...CallOption) (ClientStream, error)

// chainUnaryServer folds interceptors into one; the first is outermost. nil when none.
func chainUnaryServer(ints []UnaryServerInterceptor) UnaryServerInterceptor {
	switch len(ints) {
	case 0:
		return nil
	case 1:
		return ints[0]
	}
	return func(ctx context.Context, req any, info *UnaryServerInfo, handler UnaryHandler) (any, error) {
		return ints[0](ctx, req, info, unaryServerNext(ints, 1, info, handler))
	}
}

func unaryServerNext(ints []UnaryServerInterceptor, i int, info *UnaryServerInfo, final UnaryHandler) UnaryHandler {
	if i == len(ints) {
		return final
	}
	return func(ctx context.Context, req any) (any, error) {
		return ints[i](ctx, req, info, unaryServerNext(ints, i+1, info, final))
	}
}

// chainStreamServer folds interceptors into one; the first is outermost. nil when none.
func chainStreamServer(ints []StreamServerInterceptor) StreamServerInterceptor {
	switch len(ints) {
	case 0:
		return nil
	case 1:
		return ints[0]
	}
	return func(srv any, ss ServerStream, info *StreamServerInfo, handler StreamHandler) error {
		return ints[0](srv, ss, info, streamServerNext(ints, 1, info, handler))
	}
}

func streamServerNext(ints []StreamServerInterceptor, i int, info *StreamServerInfo, final StreamHandler) StreamHandler {
	if i == len(ints) {
		return final
	}
	return func(srv any, ss ServerStream) error {
		return ints[i](srv, ss, info, streamServerNext(ints, i+1, info, final))
	}
}

// chainUnaryClient folds interceptors around final; the first is outermost.
func chainUnaryClient(ints []UnaryClientInterceptor, final UnaryInvoker) UnaryInvoker {
	for i := len(ints) - 1; i >= 0; i-- {
		next, in := final, ints[i]
		final = func(ctx context.Context, method string, req, resp any, opts ...CallOption) error {
			return in(ctx, method, req, resp, next, opts...)
		}
	}
	return final
}

// chainStreamClient folds interceptors around final; the first is outermost.
func chainStreamClient(ints []StreamClientInterceptor, final Streamer) Streamer {
	for i := len(ints) - 1; i >= 0; i-- {
		next, in := final, ints[i]
		final = func(ctx context.Context, desc *StreamDesc, method string, opts ...CallOption) (ClientStream, error) {
			return in(ctx, desc, method, next, opts...)
		}
	}
	return final
}
