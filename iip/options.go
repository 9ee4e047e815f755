package iip

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"syscall"
	"time"
)

// Options configures Dial and NewClient. The zero value of every field
// means its default; a nil *Options means all defaults.
type Options struct {
	// TLSConfig, when set, makes the client speak TLS. The server
	// certificate is verified; ServerName defaults to the host of addr.
	// Set Certificates for mutual TLS.
	TLSConfig *tls.Config
	// DialTimeout bounds dialing, the TLS handshake and the capability
	// handshake when the context has no earlier deadline. Default
	// DefaultDialTimeout.
	DialTimeout time.Duration
	// MaxMessageSize bounds a response; a larger one is discarded and its
	// call fails with ErrMessageTooLarge (requests larger than it are
	// refused before sending). Default DefaultMaxMessageSize.
	MaxMessageSize int
	// PoolConns is how many connections a Client opens at most. Default
	// DefaultPoolConns.
	PoolConns int
	// PoolChannels is how many channels a Client opens per connection at
	// most. Default DefaultPoolChannels.
	PoolChannels int
	// Keepalive is the interval of the keepalive ping toward servers that
	// accepted the "keepalive" capability: a connection that read nothing
	// for one interval is pinged, and closed when the ping gets no answer
	// within another (at least one second). Never used toward existing
	// servers. Default
	// DefaultKeepalive; negative disables it.
	Keepalive time.Duration
	// ReadBufferSize is the per-connection read buffer. Responses from
	// 1/16 to 1/2 of it are returned without a copy, as slices of the
	// buffer (see Channel.Do); a new buffer is allocated when one is used
	// up. Default DefaultReadBufferSize.
	ReadBufferSize int
	// DisableCaps makes the client behave exactly like an existing IIP
	// client: /sys/new_channel with data {}, plain JSON errors recognised
	// by shape only, no keepalive.
	DisableCaps bool
	// Logger receives connection-level problems. Default slog.Default().
	Logger *slog.Logger
	// SocketReadBuffer is the socket receive buffer (SO_RCVBUF) of each
	// connection, set once it is connected. Default 0: the system's
	// (autotuned) toward servers that accept our capabilities (ours), and
	// DefaultSocketReadBuffer (64 KiB), set right after the capability
	// handshake, toward any other server (deployed ones, whose 16 KiB
	// send buffers crawl into an autotuned receiver on loopback; see
	// DefaultSocketReadBuffer and BENCHMARKS.md). Negative: always the
	// system's.
	SocketReadBuffer int
	// SocketWriteBuffer is the socket send buffer (SO_SNDBUF) of each
	// connection, set once it is connected. Default 0: the system's
	// default (autotuned); negative also.
	SocketWriteBuffer int
	// FrameSize is the largest frame data this client offers to send and
	// receive with the "frame-size" capability; the server agrees to it or
	// less (at least MinFrameSize), and both sides then split messages
	// into frames of that size, so that a small call is not stuck behind
	// a large transfer on the same connection. Default DefaultFrameSize
	// (32 KiB); valid: MinFrameSize to MaxFrameData, else Dial returns
	// ErrInvalidOptions; negative: not offered (frames of up to 16 MiB).
	FrameSize int
	// Window is how many bytes of frames of messages of several frames
	// (large messages) the server may send on a connection ahead of what
	// this client has read, offered with the "window" capability (which
	// needs "frame-size", "control" and "goaway"); the client acknowledges
	// what it reads on the control channel. It bounds what is queued in
	// the sockets ahead of a small response, at some cost in bulk
	// throughput. Default DefaultWindow (64 KiB), or twice FrameSize when
	// that is larger; an explicit value below twice FrameSize is an error
	// (ErrInvalidOptions); negative: not offered (no flow control, as
	// toward any server that does not accept it).
	Window int
	// noSizeHint leaves "size-hint" out of the offer (benchmarks compare).
	noSizeHint bool
	// DialControl, when set, is net.Dialer's Control: it is called with
	// each connection's socket before it connects, to set further socket
	// options. An error fails the dial. Default nil.
	DialControl func(network, address string, c syscall.RawConn) error
}

func (o *Options) withDefaults() Options {
	var v Options
	if o != nil {
		v = *o
	}
	if v.DialTimeout <= 0 {
		v.DialTimeout = DefaultDialTimeout
	}
	if v.MaxMessageSize <= 0 {
		v.MaxMessageSize = DefaultMaxMessageSize
	}
	if v.PoolConns <= 0 {
		v.PoolConns = DefaultPoolConns
	}
	if v.PoolChannels <= 0 {
		v.PoolChannels = DefaultPoolChannels
	}
	if v.Keepalive == 0 {
		v.Keepalive = DefaultKeepalive
	}
	if v.ReadBufferSize <= 0 {
		v.ReadBufferSize = DefaultReadBufferSize
	}
	if v.Logger == nil {
		v.Logger = slog.Default()
	}
	if v.FrameSize == 0 {
		v.FrameSize = DefaultFrameSize
	}
	if v.Window == 0 {
		v.Window = max(DefaultWindow, 2*v.FrameSize) // a derived default, never a clamp
	}
	return v
}

// VerifyOptions reports the first field of o out of its documented range,
// wrapped in ErrInvalidOptions; nil o (the defaults) is valid. Dial,
// NewClient and NewLoadBalanceClient call it: nothing is clamped.
func VerifyOptions(o *Options) error {
	if o == nil {
		return nil
	}
	return verifyFrames(o.FrameSize, o.Window)
}

// verifyFrames checks a FrameSize (0: default, negative: off, else
// MinFrameSize to MaxFrameData) and a Window (0: default, negative: off,
// else at least twice the frame size).
func verifyFrames(frameSize, window int) error {
	if frameSize > 0 && (frameSize < MinFrameSize || frameSize > MaxFrameData) {
		return fmt.Errorf("%w: FrameSize %d outside [%d, %d] (0: the default, negative: off)", ErrInvalidOptions, frameSize, MinFrameSize, MaxFrameData)
	}
	if frameSize == 0 {
		frameSize = DefaultFrameSize
	}
	if window > 0 && frameSize > 0 && window < 2*frameSize {
		return fmt.Errorf("%w: Window %d below twice the frame size %d (0: the default, negative: off)", ErrInvalidOptions, window, frameSize)
	}
	return nil
}
