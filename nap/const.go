package nap

import "time"

// frameType is the Type byte of a frame header (see PROTOCOL.md).
type frameType uint8

const (
	frameData         frameType = 0x0 // a fragment of a message
	framePing         frameType = 0x1 // liveness probe; flag ACK answers it
	frameSettings     frameType = 0x2 // handshake: the sender's limits
	frameWindowUpdate frameType = 0x3 // flow-control credit
	frameRstStream    frameType = 0x4 // abort one stream with an error code
	frameGoAway       frameType = 0x5 // last accepted stream ID + error code
)

// String returns the frame type name used in error messages.
func (t frameType) String() string {
	switch t {
	case frameData:
		return "DATA"
	case framePing:
		return "PING"
	case frameSettings:
		return "SETTINGS"
	case frameWindowUpdate:
		return "WINDOW_UPDATE"
	case frameRstStream:
		return "RST_STREAM"
	case frameGoAway:
		return "GOAWAY"
	}
	return "UNKNOWN"
}

// Frame flags.
const (
	flagDataMore uint8 = 0x1 // DATA: the message continues in the next DATA frame of the stream
	flagDataEnd  uint8 = 0x2 // DATA: last frame from this side (half-close)
	flagDataSize uint8 = 0x4 // DATA: with MORE, the payload starts with the message's total size (sizeHintLen bytes)
	flagPingAck  uint8 = 0x1 // PING: this is the answer
)

// Settings identifiers carried in the SETTINGS frame.
const (
	settingMaxFrameSize         uint16 = 0x1
	settingMaxMessageSize       uint16 = 0x2
	settingMaxConcurrentStreams uint16 = 0x3
	settingStreamWindow         uint16 = 0x4
	settingConnWindow           uint16 = 0x5
	settingSizeHints            uint16 = 0x6
)

const (
	// headerSize is the size of the fixed frame header.
	headerSize = 10
	// sizeHintLen is the size of the message size a DATA frame with flag
	// SIZE carries before its fragment.
	sizeHintLen = 4
	// protocolVersion is the version carried in SETTINGS.
	protocolVersion = 1
	// maxSettings is the maximum number of entries a SETTINGS frame may carry.
	maxSettings = 32
	// maxGoAwayDebug is the maximum debug text carried by a GOAWAY frame.
	maxGoAwayDebug = 1024
	// maxPingPayload is the maximum PING payload (opaque, echoed by the ACK).
	maxPingPayload = 8
	// maxWindow is the largest flow-control window (2^31-1).
	maxWindow = 1<<31 - 1
	// maxStreamID is the largest stream ID a handshaking peer may use.
	maxStreamID = 1<<31 - 1
)

// Defaults applied to zero Config fields, and bounds VerifyConfig checks.
const (
	// DefaultMaxFrameSize is the default largest DATA payload per frame, 64 KiB.
	DefaultMaxFrameSize = 64 << 10
	// MinFrameSize is the smallest valid MaxFrameSize (1 KiB); VerifyConfig refuses a smaller one.
	MinFrameSize = 1 << 10
	// MaxFrameSizeLimit is the largest valid MaxFrameSize (16 MiB - 1); VerifyConfig refuses a larger one.
	MaxFrameSizeLimit = 1<<24 - 1
	// DefaultMaxMessageSize is the default largest message, 4 MiB.
	DefaultMaxMessageSize = 4 << 20
	// DefaultMaxConcurrentStreams is the default number of streams the peer may have open toward us.
	DefaultMaxConcurrentStreams = 1024
	// DefaultStreamWindow is the default initial per-stream receive window,
	// 272 KiB: the most unread data the peer can make us hold on one stream.
	// It is 256 KiB plus 16 KiB of room for an RPC envelope (dora's or
	// IIP's header and metadata), so that a message carrying a 256 KiB
	// payload goes out in one flight: with a window of exactly 256 KiB its
	// sender wrote 256 KiB, then waited for a WINDOW_UPDATE to send its last
	// few bytes, in each direction of every such call (BENCHMARKS.md,
	// "A 256 KiB payload in one flight"). It also bounds how much of one bulk
	// stream can sit in the socket buffers ahead of another stream's small
	// message (a 1 MiB window tripled that wait); raise it for high
	// bandwidth-delay paths.
	DefaultStreamWindow = 256<<10 + 16<<10
	// DefaultConnWindow is the default connection receive window, 4 MiB: the
	// most data in transit on the connection.
	DefaultConnWindow = 4 << 20
	// DefaultKeepAliveInterval is the default idle time after which a PING is sent.
	DefaultKeepAliveInterval = 30 * time.Second
	// DefaultKeepAliveTimeout is the default time a PING may stay unanswered.
	DefaultKeepAliveTimeout = 10 * time.Second
	// DefaultHandshakeTimeout is the default time a new connection has to
	// complete the handshake (TLS included).
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultWriteTimeout is the default time a Send, or a socket write, may
	// make no progress before it fails (Config.WriteTimeout).
	DefaultWriteTimeout = 10 * time.Second
	// DefaultMinPingInterval is the default shortest interval between two
	// PINGs of the peer that is not a strike (Config.MinPingInterval).
	DefaultMinPingInterval = time.Second
	// MaxPingStrikes is how many PINGs in a row may come faster than
	// MinPingInterval; the next one closes the session with GOAWAY
	// CodeEnhanceYourCalm (grpc-go's default is 2 as well).
	MaxPingStrikes = 2
	// DefaultIdleTimeout is the default time a session may have no open
	// stream before it is closed gracefully (Config.IdleTimeout).
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultMaxConnBuffered is the default per-connection budget of
	// received message bytes, 16 MiB: four messages of the default maximum
	// size (Config.MaxConnBuffered).
	DefaultMaxConnBuffered = 16 << 20
	// DefaultMaxServerBuffered is the default budget of received message
	// bytes of all sessions of one Listener, 64 MiB (Config.MaxServerBuffered).
	// With the fixed cost of a session (about 160 KiB: 64 KiB read and 64 KiB
	// write buffers, three goroutines), 1,000 connections stay under 256 MiB
	// whatever they send.
	DefaultMaxServerBuffered = 64 << 20
	// MaxControlQueue is the most bytes of control frames (PING ACKs,
	// RST_STREAM answers, WINDOW_UPDATEs) we queue for a peer that does not
	// read them: 64 KiB, about 4,500 frames, several times what 1,024
	// streams need. A peer that makes us queue more is closed with GOAWAY
	// CodeEnhanceYourCalm.
	MaxControlQueue = 64 << 10
	// LegacyMaxMessageSize is the largest message exchanged with a legacy peer
	// (one DATA frame, 64 KiB).
	LegacyMaxMessageSize = 64 << 10
)
