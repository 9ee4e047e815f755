package iip

import "fmt"

// Config holds the connection settings that mean the same to a client
// connection (Dial, and every connection of a Client or LoadBalanceClient)
// and to a server connection: message and frame sizes, the flow-control
// window, buffers and the capability switch. Give it to either side with
// WithConfig. The zero value of every field means its default, written
// next to it; a value out of its documented range is an error wrapping
// ErrInvalidConfig (VerifyConfig), returned by Dial, NewClient,
// NewLoadBalanceClient and NewServer. Nothing is clamped.
type Config struct {
	// MaxMessageSize bounds one assembled message: on a client, a
	// response (a larger one is discarded and its call fails with
	// ErrMessageTooLarge; a larger request is refused before sending);
	// on a server, a request (a larger one is read to its end, discarded
	// and answered with error 104; streaming handlers are not bounded by
	// it). A server also needs its per-connection request budget to hold
	// one such message: see Limits.MaxConnBufferedBytes. Default
	// DefaultMaxMessageSize (64 MiB); valid: 0 or more.
	MaxMessageSize int
	// ReadBufferSize is the per-connection read buffer. Messages from
	// 1/16 to 1/2 of it are handed over without a copy, as slices of the
	// buffer (see Channel.Do and Request.Data); a new buffer is allocated
	// when one is used up. Default DefaultReadBufferSize (64 KiB); valid:
	// 0 or more.
	ReadBufferSize int
	// FrameSize is the largest frame data this side offers (client) or
	// agrees to (server) with the "frame-size" capability: the smaller of
	// the two offers is agreed, and both sides split messages into frames
	// of that size so that a small call is not stuck behind a large
	// transfer on the same connection. Default DefaultFrameSize (32 KiB);
	// valid: MinFrameSize to MaxFrameData; negative: not offered, or
	// refused by a server (frames of up to 16 MiB).
	FrameSize int
	// Window is how many bytes of frames of messages of several frames
	// (large messages) the peer may send on a connection ahead of what
	// this side has read, offered (client) or granted (server) with the
	// "window" capability, which needs "frame-size", "control" and
	// "goaway". This side acknowledges what it reads on the control
	// channel. It bounds what is queued in the sockets ahead of a small
	// message, at some cost in bulk throughput. Default DefaultWindow
	// (64 KiB); a client offers twice FrameSize when that is larger, and a
	// server answers at least twice the agreed frame size. Valid: at least
	// twice FrameSize; negative: not offered, or refused by a server (no
	// flow control).
	Window int
	// SocketReadBuffer is the socket receive buffer (SO_RCVBUF) of each
	// connection: set once a client's connection is connected, or by
	// Serve on each accepted connection before the TLS handshake. Default
	// 0: the system's (autotuned) toward pocket peers (those that offer or
	// accept our capabilities), and 64 KiB toward any other peer
	// (deployed IIP peers, whose 16 KiB send buffers crawl into an
	// autotuned receiver on loopback, while larger fixed sizes stall
	// again; see BENCHMARKS.md), set once the capability handshake (client) or
	// the connection's first request (server) tells. Negative: always the
	// system's.
	SocketReadBuffer int
	// SocketWriteBuffer is the socket send buffer (SO_SNDBUF) of each
	// connection, set like SocketReadBuffer. Default 0: the system's
	// (autotuned); negative also.
	SocketWriteBuffer int
	// DisableCaps makes this side behave exactly like an existing IIP
	// peer: a client opens channels with /sys/new_channel and data {},
	// recognises plain JSON errors by shape only and sends no keepalive; a
	// server accepts no capability (plain JSON errors, no keepalive).
	// Default false.
	DisableCaps bool
}

// VerifyConfig reports the first field of c out of its documented range,
// in an error wrapping ErrInvalidConfig that names the field; nil c (the
// defaults) is valid. Dial, NewClient, NewLoadBalanceClient and NewServer
// call it: nothing is clamped.
func VerifyConfig(c *Config) error {
	if c == nil {
		return nil
	}
	if c.MaxMessageSize < 0 {
		return fmt.Errorf("%w: Config.MaxMessageSize %d is negative (0: the default, %d)", ErrInvalidConfig, c.MaxMessageSize, DefaultMaxMessageSize)
	}
	if c.ReadBufferSize < 0 {
		return fmt.Errorf("%w: Config.ReadBufferSize %d is negative (0: the default, %d)", ErrInvalidConfig, c.ReadBufferSize, DefaultReadBufferSize)
	}
	if c.FrameSize > 0 && (c.FrameSize < MinFrameSize || c.FrameSize > MaxFrameData) {
		return fmt.Errorf("%w: Config.FrameSize %d outside [%d, %d] (0: the default, negative: off)", ErrInvalidConfig, c.FrameSize, MinFrameSize, MaxFrameData)
	}
	frameSize := c.FrameSize
	if frameSize == 0 {
		frameSize = DefaultFrameSize
	}
	if c.Window > 0 && frameSize > 0 && c.Window < 2*frameSize {
		return fmt.Errorf("%w: Config.Window %d below twice the frame size %d (0: the default, negative: off)", ErrInvalidConfig, c.Window, frameSize)
	}
	return nil
}

// withDefaults returns c with its zero sizes set to their defaults. The
// window's default depends on the side: see clientOptions.withDefaults and
// serverOptions.withDefaults.
func (c Config) withDefaults() Config {
	setDefault(&c.MaxMessageSize, DefaultMaxMessageSize)
	setDefault(&c.ReadBufferSize, DefaultReadBufferSize)
	setDefault(&c.FrameSize, DefaultFrameSize)
	return c
}
