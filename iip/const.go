package iip

import "time"

// frameStatus is the kind of an IIP frame, the first byte on the wire.
type frameStatus byte

// Frame statuses. A message that fits in one frame is sent with the
// "complete" status (statusRequest / statusResponse); a larger one is a
// "first, more follows" frame, zero or more "continuation, more follows"
// frames and one "continuation, last" frame.
const (
	statusRequestFirst        frameStatus = 0 // request, first frame, more follows
	statusRequest             frameStatus = 1 // request, first frame, complete
	statusRequestContinue     frameStatus = 2 // request continuation, more follows
	statusRequestContinueLast frameStatus = 3 // request continuation, last
	statusResponseFirst       frameStatus = 4 // response, first frame, more follows
	statusResponse            frameStatus = 5 // response, first frame, complete
	statusResponseContinue    frameStatus = 6 // response continuation, more follows
	statusResponseContinueEnd frameStatus = 7 // response continuation, last
	statusClose               frameStatus = 8 // close the connection
)

// Wire limits fixed by the protocol.
const (
	// MaxPathLen is the longest path a frame may carry, not counting its
	// terminating NUL byte.
	MaxPathLen = 2048
	// MaxFrameData is the largest data length of a single frame (16 MiB).
	// Larger messages are split into continuation frames.
	MaxFrameData = 16 << 20
	// MinFrameSize is the smallest frame size a peer may negotiate with
	// the "frame-size" capability (Config.FrameSize): 4 KiB.
	MinFrameSize = 4 << 10
)

// Reserved paths (PROTOCOL.md, sections 2 and 5): the server answers them
// itself on channel 0 (/sys/delete_channel on the channel it deletes), and
// Server.Handle refuses every path under /sys/.
const (
	pathNewChannel            = "/sys/new_channel"
	pathDeleteChannel         = "/sys/delete_channel"
	pathServerCount           = "/sys/server_count"
	pathServerMeasure         = "/sys/server_measure"
	pathPathCount             = "/sys/path_count"
	pathPathMeasure           = "/sys/path_measure"
	pathStatis                = "/sys/statis"
	pathConnectionStatis      = "/sys/connection_statis"
	pathPing                  = "/sys/ping"
	sysPrefix                 = "/sys/"
	emptyData                 = "{}"
	capTypedErrors            = "typed-errors"
	capKeepalive              = "keepalive"
	capControl                = "control"
	capCancel                 = "cancel"
	capGoAway                 = "goaway"
	capFrameSize              = "frame-size"
	capStreamResponse         = "stream-response"
	capSizeHint               = "size-hint"
	capWindow                 = "window"
	dataMarkerOK         byte = 0x00
	dataMarkerError      byte = 0x01
)

// The control channel and its paths (PROTOCOL.md, section 9), used only
// on connections that negotiated the "control" capability.
const (
	// controlChannel is the channel id of the control channel: requests on
	// it are answered by the server's reader at once, never queued behind
	// the calls of channel 0 or any other channel. It is never handed out
	// by /sys/new_channel.
	controlChannel uint32 = 0xFFFFFFFF
	// pathCancel (control channel, client to server, never answered) ends
	// the handler context of one request: {"channel":N,"seq":K}.
	pathCancel = "/sys/cancel"
	// pathGoAway (control channel, server to client, unsolicited response)
	// announces a graceful shutdown and, per channel, how many requests the
	// server read and will answer: {"code":0,"read":{"N":K,...}}.
	pathGoAway = "/sys/goaway"
	// pathWindow (control channel, both directions, never answered)
	// acknowledges flow-controlled bytes read ("window" capability):
	// {"n":K}.
	pathWindow = "/sys/window"
	// maxControlData bounds the data of a control-channel request.
	maxControlData = 4096
)

// dataMarkerStreamed starts the first frame of a streamed response under
// typed errors: the message is a stream of frames whose last one starts
// with a trailer byte (dataMarkerOK: the rest is data; dataMarkerError: the
// rest is an error and the response failed).
const dataMarkerStreamed byte = 0x02

// sizeHintLen is the length of the size hint that starts the first frame
// of a message of several frames once "size-hint" holds.
const sizeHintLen = 4

// Defaults of Config, Limits, Timeouts and the client options; a zero
// field, or 0 given to an option, means the default.
const (
	// DefaultFrameSize is the largest frame data a connection that
	// negotiated "frame-size" sends, unless Config.FrameSize (either
	// side) asks for another: 32 KiB, so that a small
	// message on another channel waits for at most one 32 KiB frame of a
	// large transfer, not a 16 MiB one (and, with "window", for at most
	// DefaultWindow bytes of it in the sockets).
	DefaultFrameSize = 32 << 10
	// DefaultWindow is the window a connection that negotiated "window"
	// gives its peer unless Config.Window (either side) asks for
	// another: how many bytes of frames of messages of several frames the
	// peer may send ahead of what was read (64 KiB, two default frames),
	// so that a small message waits behind at most that much of a large
	// one. It caps one connection's bulk throughput at about the window
	// per round trip (see BENCHMARKS.md): connections that only carry bulk
	// data may ask for more, or for none.
	DefaultWindow = 2 * DefaultFrameSize
	// DefaultMaxMessageSize bounds one assembled message (request or
	// response) in bytes: 64 MiB.
	DefaultMaxMessageSize = 64 << 20
	// DefaultMaxConns is the server's default limit of simultaneous connections.
	DefaultMaxConns = 10000
	// DefaultMaxChannels is the default limit of channels per connection,
	// channel 0 not counted.
	DefaultMaxChannels = 1024
	// DefaultDialTimeout bounds dialing and the capability handshake.
	DefaultDialTimeout = 5 * time.Second
	// DefaultPoolConns is the default number of connections of a Client's pool.
	DefaultPoolConns = 2
	// DefaultPoolChannels is the default number of channels per pooled connection.
	DefaultPoolChannels = 16
	// DefaultKeepalive is the default interval of our keepalive ping toward
	// servers that accepted the "keepalive" capability.
	DefaultKeepalive = 15 * time.Second
	// DefaultReadBufferSize is the size of each connection's read buffer.
	DefaultReadBufferSize = 64 << 10
	// DefaultStreamQueue is how many chunks a streaming handler may lag
	// behind the connection reader before the reader waits for it.
	DefaultStreamQueue = 4
	// DefaultWriteTimeout bounds the write of each response frame: a peer
	// that does not read its responses for this long loses its connection.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultHandshakeTimeout bounds the TLS handshake and the arrival of
	// a connection's first frame.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultIdleTimeout is how long a connection with no request in
	// flight may go without sending a frame before the server closes it.
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultFrameTimeout bounds the arrival of one frame once its first
	// byte has arrived (16 MiB in 30 s is 560 KB/s).
	DefaultFrameTimeout = 30 * time.Second
	// DefaultMaxConnHandlers bounds the handlers running at once for one
	// connection (one per channel with work).
	DefaultMaxConnHandlers = 64
	// DefaultMaxHandlers bounds the handlers running at once in a server.
	DefaultMaxHandlers = 1024
	// DefaultIdleWorkers is how many goroutines that finished a channel's
	// requests a server keeps waiting for the next channel with work
	// (WithIdleWorkers).
	DefaultIdleWorkers = 128
	// DefaultMaxConnBufferedBytes bounds the request bytes one connection
	// makes the server hold (incomplete messages, queued requests and
	// those being answered): 80 MiB, room for one DefaultMaxMessageSize
	// request and more.
	DefaultMaxConnBufferedBytes = 80 << 20
	// DefaultMaxBufferedBytes bounds the request bytes all connections
	// make the server hold: 96 MiB (with DefaultMaxWriteBytes and 1,000
	// connections' read buffers, the server's live heap stays under
	// 200 MiB whatever its peers do).
	DefaultMaxBufferedBytes = 96 << 20
	// DefaultMaxConnWriteBytes bounds the response bytes queued for one
	// connection before its next handler may start: 16 MiB.
	DefaultMaxConnWriteBytes = 16 << 20
	// DefaultMaxWriteBytes bounds the response bytes queued for all
	// connections before a next handler may start: 32 MiB.
	DefaultMaxWriteBytes = 32 << 20
	// DefaultMaxChannelQueue is how many requests may wait on one channel
	// behind the one being answered before the connection's reader stops
	// reading until the channel catches up.
	DefaultMaxChannelQueue = 64
)
