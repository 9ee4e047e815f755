package iip

import (
	"fmt"
	"log/slog"
	"time"
)

// serverOptions are the settings of a Server, built from its ServerOption values.
type serverOptions struct {
	sharedOptions
	MaxConns           int           // WithMaxConns
	MaxChannels        int           // WithMaxChannels
	MaxChannelQueue    int           // WithMaxChannelQueue
	StreamQueue        int           // WithStreamQueue
	RecycleRequestData bool          // WithRecycleRequestData
	HandlerTimeout     time.Duration // WithHandlerTimeout
	WriteTimeout       time.Duration // WithWriteTimeout
	HandshakeTimeout   time.Duration // WithHandshakeTimeout
	IdleTimeout        time.Duration // WithIdleTimeout
	FrameTimeout       time.Duration // WithFrameTimeout
	// WithMaxHandlers, WithMaxBufferedBytes and WithMaxWriteBytes: a
	// connection's budget and the server's.
	MaxConnHandlers, MaxHandlers           int
	MaxConnBufferedBytes, MaxBufferedBytes int
	MaxConnWriteBytes, MaxWriteBytes       int
}

// WithMaxConns limits a server's simultaneous connections. At the limit,
// the connection idle for longest (no request in flight, no frame for at
// least a second) is closed to make room; when there is none, the new
// connection's first request is answered with error 107 and it is closed.
// Default DefaultMaxConns (10,000); valid: 0 (the default) or more.
func WithMaxConns(n int) ServerOption {
	return serverOption(func(o *serverOptions) { o.MaxConns = n })
}

// WithMaxChannels limits the channels of one connection (channel 0 not
// counted); one more /sys/new_channel is answered with error 106. Default
// DefaultMaxChannels (1024); valid: 0 (the default) or more.
func WithMaxChannels(n int) ServerOption {
	return serverOption(func(o *serverOptions) { o.MaxChannels = n })
}

// WithMaxChannelQueue bounds the requests waiting on one channel behind
// the one being answered (pipelined requests). When a channel has that
// many, the connection's reader stops reading (the peer's writes then
// block in TCP) until the channel's handler catches up. Default
// DefaultMaxChannelQueue (64); valid: 0 (the default) or more.
func WithMaxChannelQueue(n int) ServerOption {
	return serverOption(func(o *serverOptions) { o.MaxChannelQueue = n })
}

// WithStreamQueue sets how many chunks a streaming handler may lag behind
// the connection's reader before the reader waits for it. Default
// DefaultStreamQueue (4); valid: 0 (the default) or more.
func WithStreamQueue(n int) ServerOption {
	return serverOption(func(o *serverOptions) { o.StreamQueue = n })
}

// WithRecycleRequestData lets the server reuse the memory of Request.Data
// (of requests that arrive in one frame) once the response is written,
// which saves an allocation and its garbage collection per request. A
// handler may then use Data, and return it or a slice of it as the
// response, but must not keep it or let anything use it after the response
// is written. Streaming handlers are not affected. Default: off, Data
// belongs to the handler.
func WithRecycleRequestData() ServerOption {
	return serverOption(func(o *serverOptions) { o.RecycleRequestData = true })
}

// WithHandlerTimeout puts a deadline d on every handler's context; a
// handler that returns an error wrapping context.DeadlineExceeded is
// answered with error 103 (request timeout). Default 0: no deadline;
// negative is an error.
func WithHandlerTimeout(d time.Duration) ServerOption {
	return serverOption(func(o *serverOptions) { o.HandlerTimeout = d })
}

// WithWriteTimeout bounds the write of each response frame (at most
// 16 MiB): a peer that does not read its responses within it loses its
// connection, with a log line, and the handlers waiting to answer on it are
// released. Default DefaultWriteTimeout (30 s); negative disables it.
func WithWriteTimeout(d time.Duration) ServerOption {
	return serverOption(func(o *serverOptions) { o.WriteTimeout = d })
}

// WithHandshakeTimeout bounds the TLS handshake and the arrival of the
// connection's first frame, together, from the moment the connection is
// accepted; a connection that has not sent a whole frame by then is
// closed. Default DefaultHandshakeTimeout (10 s); valid: 0 (the default) or
// more.
func WithHandshakeTimeout(d time.Duration) ServerOption {
	return serverOption(func(o *serverOptions) { o.HandshakeTimeout = d })
}

// WithIdleTimeout closes a connection that has no request in flight and
// has not sent a frame for d (our client's keepalive pings every 15 s).
// Default DefaultIdleTimeout (5 min); negative disables it.
func WithIdleTimeout(d time.Duration) ServerOption {
	return serverOption(func(o *serverOptions) { o.IdleTimeout = d })
}

// WithFrameTimeout bounds the arrival of one frame (header and up to
// 16 MiB of data) once its first byte has arrived, so that a peer trickling
// bytes is closed. Default DefaultFrameTimeout (30 s); negative disables
// it.
func WithFrameTimeout(d time.Duration) ServerOption {
	return serverOption(func(o *serverOptions) { o.FrameTimeout = d })
}

// WithMaxHandlers bounds the handlers running at once for one connection
// (perConn; a channel runs one at a time) and in the whole server (total).
// At a limit, the connection's reader waits for a handler to finish before
// it reads on, except while stream requests are still arriving on the
// connection (their handlers wait for chunks only that reader delivers).
// Defaults DefaultMaxConnHandlers (64) and DefaultMaxHandlers (1024); 0
// means the default; negative is an error.
func WithMaxHandlers(perConn, total int) ServerOption {
	return serverOption(func(o *serverOptions) { o.MaxConnHandlers, o.MaxHandlers = perConn, total })
}

// WithMaxBufferedBytes bounds the request bytes one connection (perConn)
// and all connections (total) make the server hold: requests still
// arriving, queued, or being answered (each request counts its data plus
// 1 KiB). A frame that does not fit waits for room, at most the frame
// timeout; a request that cannot fit (its incomplete messages alone would
// pass the limit) or still does not fit then is read and discarded, and
// answered with error 104; the connection stays up. When a request still
// does not fit the server's budget after 100 ms, the connection holding the
// most (when another than its own, holding more) is closed to make room.
//
// Defaults DefaultMaxConnBufferedBytes (80 MiB) and DefaultMaxBufferedBytes
// (96 MiB); 0 means the default. perConn must hold one message of
// Config.MaxMessageSize and a frame (MaxMessageSize + MaxFrameData, 16 MiB)
// and total must be at least perConn, else NewServer returns an error
// wrapping ErrInvalidConfig that says what to set: a server whose
// MaxMessageSize is raised past 64 MiB needs this option too. Raise total
// on a server that takes several messages near MaxMessageSize at once: two
// 64 MiB uploads do not fit the default together.
func WithMaxBufferedBytes(perConn, total int) ServerOption {
	return serverOption(func(o *serverOptions) { o.MaxConnBufferedBytes, o.MaxBufferedBytes = perConn, total })
}

// WithMaxWriteBytes bounds the response bytes queued for writing to one
// connection (perConn) and to all connections (total): while more are
// queued, no new handler starts for it (a handler is counted from its
// start with the size of its path's recent responses). Defaults
// DefaultMaxConnWriteBytes (16 MiB) and DefaultMaxWriteBytes (32 MiB); 0
// means the default; negative is an error.
func WithMaxWriteBytes(perConn, total int) ServerOption {
	return serverOption(func(o *serverOptions) { o.MaxConnWriteBytes, o.MaxWriteBytes = perConn, total })
}

// newServerOptions applies opts in order and verifies the result; it
// returns the settings with their defaults.
func newServerOptions(opts []ServerOption) (serverOptions, error) {
	var o serverOptions
	for _, opt := range opts {
		if opt != nil {
			opt.applyServer(&o)
		}
	}
	if err := VerifyConfig(&o.Config); err != nil {
		return o, err
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"WithMaxConns", int64(o.MaxConns)},
		{"WithMaxChannels", int64(o.MaxChannels)},
		{"WithMaxChannelQueue", int64(o.MaxChannelQueue)},
		{"WithStreamQueue", int64(o.StreamQueue)},
		{"WithHandlerTimeout", int64(o.HandlerTimeout)},
		{"WithHandshakeTimeout", int64(o.HandshakeTimeout)},
		{"WithMaxHandlers", int64(min(o.MaxConnHandlers, o.MaxHandlers))},
		{"WithMaxBufferedBytes", int64(min(o.MaxConnBufferedBytes, o.MaxBufferedBytes))},
		{"WithMaxWriteBytes", int64(min(o.MaxConnWriteBytes, o.MaxWriteBytes))},
	} {
		if f.v < 0 {
			return o, fmt.Errorf("%w: %s with a negative value (0: the default)", ErrInvalidConfig, f.name)
		}
	}
	d := o.withDefaults()
	if need := d.MaxMessageSize + MaxFrameData; d.MaxConnBufferedBytes < need {
		return o, fmt.Errorf("%w: WithMaxBufferedBytes: the per-connection budget %d cannot hold one message of Config.MaxMessageSize %d and a frame (%d): give WithMaxBufferedBytes(%d, %d) or more, or lower MaxMessageSize",
			ErrInvalidConfig, d.MaxConnBufferedBytes, d.MaxMessageSize, MaxFrameData, need, max(need, d.MaxBufferedBytes))
	}
	if d.MaxBufferedBytes < d.MaxConnBufferedBytes {
		return o, fmt.Errorf("%w: WithMaxBufferedBytes: the server's budget %d is below the per-connection budget %d: give WithMaxBufferedBytes(%d, %d) or more",
			ErrInvalidConfig, d.MaxBufferedBytes, d.MaxConnBufferedBytes, d.MaxConnBufferedBytes, d.MaxConnBufferedBytes)
	}
	return d, nil
}

// withDefaults returns o with every zero setting set to its default.
func (o serverOptions) withDefaults() serverOptions {
	o.Config = o.Config.withDefaults()
	if o.Window == 0 {
		o.Window = DefaultWindow // the server answers at least twice the agreed frame size
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	setDefault(&o.MaxConns, DefaultMaxConns)
	setDefault(&o.MaxChannels, DefaultMaxChannels)
	setDefault(&o.MaxChannelQueue, DefaultMaxChannelQueue)
	setDefault(&o.StreamQueue, DefaultStreamQueue)
	setDefault(&o.WriteTimeout, DefaultWriteTimeout)
	setDefault(&o.HandshakeTimeout, DefaultHandshakeTimeout)
	setDefault(&o.IdleTimeout, DefaultIdleTimeout)
	setDefault(&o.FrameTimeout, DefaultFrameTimeout)
	setDefault(&o.MaxConnHandlers, DefaultMaxConnHandlers)
	setDefault(&o.MaxHandlers, DefaultMaxHandlers)
	setDefault(&o.MaxConnBufferedBytes, DefaultMaxConnBufferedBytes)
	setDefault(&o.MaxBufferedBytes, DefaultMaxBufferedBytes)
	setDefault(&o.MaxConnWriteBytes, DefaultMaxConnWriteBytes)
	setDefault(&o.MaxWriteBytes, DefaultMaxWriteBytes)
	return o
}

// setDefault sets *v to def when it is zero.
func setDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}
