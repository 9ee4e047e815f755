package iip

import (
	"fmt"
	"log/slog"
	"time"
)

// serverOptions are the settings of a Server, built from its ServerOption values.
type serverOptions struct {
	sharedOptions
	Limits                      // WithLimits
	timeouts           Timeouts // WithTimeouts
	RecycleRequestData bool     // WithRecycleRequestData
	idleWorkers        int      // WithIdleWorkers; negative: none
}

// Limits bounds what the peers of a Server can make it hold: connections,
// channels, queued requests, running handlers and buffered bytes (README,
// "Resource model"). Give it with WithLimits. The zero value of every
// field means its default, written next to it; a negative value, or
// budgets that do not fit together (MaxConnBufferedBytes), make NewServer
// return an error wrapping ErrInvalidConfig that says what to set. Nothing
// is clamped.
type Limits struct {
	// MaxConns limits the simultaneous connections. At the limit, the
	// connection idle for longest (no request in flight, no frame for at
	// least a second) is closed to make room; when there is none, the new
	// connection's first request is answered with error 107 and it is
	// closed. Default DefaultMaxConns (10,000).
	MaxConns int
	// MaxChannels limits the channels of one connection (channel 0 not
	// counted); one more /sys/new_channel is answered with error 106.
	// Default DefaultMaxChannels (1024).
	MaxChannels int
	// MaxChannelQueue bounds the requests waiting on one channel behind
	// the one being answered (pipelined requests). When a channel has that
	// many, the connection's reader stops reading (the peer's writes then
	// block in TCP) until the channel's handler catches up. Default
	// DefaultMaxChannelQueue (64).
	MaxChannelQueue int
	// StreamQueue is how many chunks a streaming handler (HandleStream)
	// may lag behind the connection's reader before the reader waits for
	// it. Default DefaultStreamQueue (4).
	StreamQueue int
	// MaxConnHandlers and MaxHandlers bound the handlers running at once
	// for one connection (a channel runs one at a time) and in the whole
	// server. At a limit, the connection's reader waits for a handler to
	// finish before it reads on, except while stream requests are still
	// arriving on the connection (their handlers wait for chunks only that
	// reader delivers). Defaults DefaultMaxConnHandlers (64) and
	// DefaultMaxHandlers (1024).
	MaxConnHandlers, MaxHandlers int
	// MaxConnBufferedBytes and MaxBufferedBytes bound the request bytes one
	// connection and all connections make the server hold: requests still
	// arriving, queued, or being answered (each request counts its data
	// plus 1 KiB). A frame that does not fit waits for room, at most the
	// frame timeout; a request that cannot fit (its incomplete messages
	// alone would pass the limit) or still does not fit then is read and
	// discarded, and answered with error 104; the connection stays up.
	// When a request still does not fit the server's budget after 100 ms,
	// the connection holding the most (when another than its own, holding
	// more) is closed to make room.
	//
	// Defaults DefaultMaxConnBufferedBytes (80 MiB) and
	// DefaultMaxBufferedBytes (96 MiB). MaxConnBufferedBytes must hold one
	// message of Config.MaxMessageSize and a frame (MaxMessageSize +
	// MaxFrameData, 16 MiB) and MaxBufferedBytes must be at least
	// MaxConnBufferedBytes, else NewServer returns an error wrapping
	// ErrInvalidConfig that says what to set: a server whose
	// MaxMessageSize is raised past 64 MiB needs these too. Raise
	// MaxBufferedBytes on a server that takes several messages near
	// MaxMessageSize at once: two 64 MiB uploads do not fit the default
	// together.
	MaxConnBufferedBytes, MaxBufferedBytes int
	// MaxConnWriteBytes and MaxWriteBytes bound the response bytes queued
	// for writing to one connection and to all connections: while more are
	// queued, no new handler starts for it (a handler is counted from its
	// start with the size of its path's recent responses). Defaults
	// DefaultMaxConnWriteBytes (16 MiB) and DefaultMaxWriteBytes (32 MiB).
	MaxConnWriteBytes, MaxWriteBytes int
}

// WithLimits sets a server's Limits. It replaces the whole Limits: zero
// fields mean their defaults. Default: Limits{}, all defaults.
func WithLimits(l Limits) ServerOption {
	return serverOption(func(o *serverOptions) { o.Limits = l })
}

// Timeouts are a Server's deadlines on its peers and its handlers (PROTOCOL.md,
// section 7). Give them with WithTimeouts. The zero value of every field
// means its default, written next to it; where a negative value is not
// documented as "disables", it makes NewServer return an error wrapping
// ErrInvalidConfig.
type Timeouts struct {
	// Handshake bounds the TLS handshake and the arrival of the
	// connection's first frame, together, from the moment the connection
	// is accepted; a connection that has not sent a whole frame by then is
	// closed. Default DefaultHandshakeTimeout (10 s).
	Handshake time.Duration
	// Frame bounds the arrival of one frame (header and up to 16 MiB of
	// data) once its first byte has arrived, so that a peer trickling
	// bytes is closed. Default DefaultFrameTimeout (30 s); negative
	// disables it.
	Frame time.Duration
	// Idle closes a connection that has no request in flight and has not
	// sent a frame for this long (our client's keepalive pings every
	// 15 s). Default DefaultIdleTimeout (5 min); negative disables it.
	Idle time.Duration
	// Write bounds the write of each response frame (at most 16 MiB): a
	// peer that does not read its responses within it loses its
	// connection, with a log line, and the handlers waiting to answer on
	// it are released. Default DefaultWriteTimeout (30 s); negative
	// disables it.
	Write time.Duration
	// Handler puts a deadline on every handler's context; a handler that
	// returns an error wrapping context.DeadlineExceeded is answered with
	// error 103 (request timeout). Default 0: no deadline.
	Handler time.Duration
}

// WithTimeouts sets a server's Timeouts. It replaces the whole Timeouts:
// zero fields mean their defaults. Default: Timeouts{}, all defaults.
func WithTimeouts(t Timeouts) ServerOption {
	return serverOption(func(o *serverOptions) { o.timeouts = t })
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

// WithIdleWorkers sets how many goroutines that have answered a channel's
// queued requests a server keeps waiting for the next channel with work,
// instead of ending: a channel whose first request arrives is handed to an
// idle one when there is one (it saves starting a goroutine and keeps the
// stack the handlers grew), else to a new goroutine. At most n wait at any
// time, and they end when the server is closed; MaxHandlers, not n, bounds
// the handlers running. Default DefaultIdleWorkers (128); 0 means the
// default; negative keeps none: a new goroutine per burst of requests on a
// channel, which ends once the channel's queue is empty.
func WithIdleWorkers(n int) ServerOption {
	return serverOption(func(o *serverOptions) { o.idleWorkers = n })
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
	l, t := o.Limits, o.timeouts
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"Limits.MaxConns", int64(l.MaxConns)},
		{"Limits.MaxChannels", int64(l.MaxChannels)},
		{"Limits.MaxChannelQueue", int64(l.MaxChannelQueue)},
		{"Limits.StreamQueue", int64(l.StreamQueue)},
		{"Limits.MaxConnHandlers", int64(l.MaxConnHandlers)},
		{"Limits.MaxHandlers", int64(l.MaxHandlers)},
		{"Limits.MaxConnBufferedBytes", int64(l.MaxConnBufferedBytes)},
		{"Limits.MaxBufferedBytes", int64(l.MaxBufferedBytes)},
		{"Limits.MaxConnWriteBytes", int64(l.MaxConnWriteBytes)},
		{"Limits.MaxWriteBytes", int64(l.MaxWriteBytes)},
		{"Timeouts.Handshake", int64(t.Handshake)},
		{"Timeouts.Handler", int64(t.Handler)},
	} {
		if f.v < 0 {
			return o, fmt.Errorf("%w: %s %d is negative (0: the default)", ErrInvalidConfig, f.name, f.v)
		}
	}
	d := o.withDefaults()
	if need := d.MaxMessageSize + MaxFrameData; d.MaxConnBufferedBytes < need {
		return o, fmt.Errorf("%w: Limits.MaxConnBufferedBytes %d cannot hold one message of Config.MaxMessageSize %d and a frame (%d): give Limits{MaxConnBufferedBytes: %d, MaxBufferedBytes: %d} or more, or lower MaxMessageSize",
			ErrInvalidConfig, d.MaxConnBufferedBytes, d.MaxMessageSize, MaxFrameData, need, max(need, d.MaxBufferedBytes))
	}
	if d.MaxBufferedBytes < d.MaxConnBufferedBytes {
		return o, fmt.Errorf("%w: Limits.MaxBufferedBytes %d is below Limits.MaxConnBufferedBytes %d: give Limits{MaxConnBufferedBytes: %d, MaxBufferedBytes: %d} or more",
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
	setDefault(&o.timeouts.Write, DefaultWriteTimeout)
	setDefault(&o.timeouts.Handshake, DefaultHandshakeTimeout)
	setDefault(&o.timeouts.Idle, DefaultIdleTimeout)
	setDefault(&o.timeouts.Frame, DefaultFrameTimeout)
	setDefault(&o.MaxConnHandlers, DefaultMaxConnHandlers)
	setDefault(&o.MaxHandlers, DefaultMaxHandlers)
	setDefault(&o.idleWorkers, DefaultIdleWorkers)
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
