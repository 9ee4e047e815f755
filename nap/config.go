package nap

import (
	"crypto/tls"
	"io"
	"log/slog"
	"time"
)

// Config configures a Session (go-redis style: a nil *Config, and every zero
// field, means the documented default constant). Values outside the allowed
// range are clamped to it. The same Config may be shared by many sessions; it
// must not be modified while in use.
type Config struct {
	// MaxFrameSize is the largest DATA payload per frame we accept (announced
	// to the peer) and send. Default DefaultMaxFrameSize (64 KiB); clamped to
	// [MinFrameSize, MaxFrameSizeLimit]. Legacy peers always use 64 KiB.
	MaxFrameSize int
	// MaxMessageSize is the largest message we accept; a larger one resets its
	// stream with CodeMessageTooLarge and the connection lives on. Default
	// DefaultMaxMessageSize (4 MiB).
	MaxMessageSize int
	// MaxConcurrentStreams is how many streams the PEER may have open toward
	// us; more are refused with CodeStreamLimit (retryable). Default
	// DefaultMaxConcurrentStreams (1024).
	MaxConcurrentStreams int
	// StreamWindow is the initial per-stream receive window in bytes: the
	// most unread data the peer can make us hold on one stream (a stalled
	// reader blocks only its own stream). What one connection can make us
	// hold is therefore at most MaxConcurrentStreams x StreamWindow, plus
	// the part already received of messages a Recv is waiting for. Default
	// DefaultStreamWindow (256 KiB); at most 2^31-1.
	StreamWindow int
	// ConnWindow is the connection receive window in bytes: the most data in
	// transit on the connection (credited as soon as a frame reaches its
	// stream). Default DefaultConnWindow (4 MiB); at most 2^31-1; raised to
	// StreamWindow if smaller.
	ConnWindow int
	// KeepAliveInterval is the idle time after which we send a PING. Default
	// DefaultKeepAliveInterval (30 s); negative disables keepalive.
	KeepAliveInterval time.Duration
	// KeepAliveTimeout is how long a PING may stay unanswered (no frame at all
	// received) before the session fails with ErrKeepAliveTimeout. Default
	// DefaultKeepAliveTimeout (10 s).
	KeepAliveTimeout time.Duration
	// HandshakeTimeout bounds the whole handshake with one deadline. Client:
	// the TLS handshake (Dial) and the wait for the server's SETTINGS. Server:
	// from the accept to the end of the first SETTINGS (or, for a legacy
	// peer, the first complete DATA frame), TLS handshake included; PINGs
	// before it are answered but do not extend it, so a peer that trickles
	// bytes or sends only PINGs is closed with ErrHandshakeTimeout. Default
	// DefaultHandshakeTimeout (10 s).
	HandshakeTimeout time.Duration
	// WriteTimeout bounds how long a send may make no progress. A Send (or
	// SendAndClose, CloseSend) that gets no flow-control credit and moves no
	// frame for WriteTimeout fails with an error matching ErrWriteTimeout and
	// the stream is reset with CodeWriteTimeout; a connection whose socket
	// write makes no progress for WriteTimeout is closed (ErrWriteTimeout).
	// It is checked by a per-session watchdog whose tick is at most
	// min(WriteTimeout/4, 1 s), so a stalled Send fails up to one tick early
	// and a stalled socket write is closed up to one tick late. Default
	// DefaultWriteTimeout (10 s); negative disables (a peer that never
	// reads then holds the sender forever).
	WriteTimeout time.Duration
	// MinPingInterval is the keepalive enforcement policy (like grpc-go's
	// EnforcementPolicy.MinTime): a PING from the peer that arrives sooner
	// than this after its previous PING is a strike; at the strike after
	// MaxPingStrikes in a row the session is closed with GOAWAY
	// CodeEnhanceYourCalm. A PING that respects the interval clears the
	// strikes. Default DefaultMinPingInterval (1 s), lowered to half our own
	// KeepAliveInterval when that is shorter (peers configured like us must
	// pass); negative disables enforcement.
	MinPingInterval time.Duration
	// IdleTimeout closes (gracefully, GOAWAY NO_ERROR) a session that has
	// had no open stream for this long: PINGs alone do not keep a
	// connection alive forever. Default DefaultIdleTimeout (5 min);
	// negative disables.
	IdleTimeout time.Duration
	// MaxConnBuffered is the per-connection budget of received message
	// bytes we hold (messages being assembled plus complete messages not yet
	// returned by Recv, across all streams). Connection credit is only
	// granted within it, so the peer can never make one connection hold
	// more; when it is full of messages being assembled (which nobody can
	// consume) the stream holding the largest one is reset with
	// CodeResourceExhausted. Default DefaultMaxConnBuffered (16 MiB); raised
	// to ConnWindow + MaxMessageSize if smaller, so that one message of the
	// largest size always fits.
	MaxConnBuffered int
	// MaxServerBuffered is the budget of received message bytes all sessions
	// of one Listener hold together (sessions made with Server directly
	// share none). When it is full, new streams are refused with
	// CodeStreamLimit (retryable) and the session holding the most resets
	// its largest stream (CodeResourceExhausted) until the total fits.
	// Default DefaultMaxServerBuffered (64 MiB); negative disables.
	MaxServerBuffered int
	// DisableSizeHints stops announcing SIZE_HINTS (PROTOCOL.md section 1.1):
	// the peer then sends no message size with the first frame of a large
	// message, and such a message is assembled in a buffer that grows as
	// its frames arrive instead of one buffer of the announced size. We
	// still send hints to a peer that announces them. Default false (hints
	// on); for tests and for comparing the two paths.
	DisableSizeHints bool
	// SizeHintCredit is how much of the connection's memory may be promised
	// to messages whose first frame announces their size: when the
	// application waits in Recv for such a message, larger than its stream
	// window, and what the connection holds plus the message is at most
	// SizeHintCredit, the whole rest of the message is credited at once,
	// instead of one window per round trip as its fragments arrive (a single
	// large call is not throttled). Streams nobody reads keep their window. Default (zero): half of MaxConnBuffered once
	// resolved, 8 MiB with the defaults; at most MaxConnBuffered; negative
	// disables.
	SizeHintCredit int
	// TLSConfig, when non-nil, makes Dial use tls.Client and Listen use
	// tls.NewListener. Dial fills ServerName from the address when empty.
	TLSConfig *tls.Config
	// Logger receives connection-level events (protocol errors, keepalive
	// failures) at Debug/Warn level. Nil discards.
	Logger *slog.Logger
}

// settings is a validated, defaulted copy of the limits.
type settings struct {
	maxFrameSize         uint32
	maxMessageSize       uint32
	maxConcurrentStreams uint32
	streamWindow         uint32
	connWindow           uint32
	sizeHints            bool // accepts DATA frames with flag SIZE (SETTINGS SIZE_HINTS = 1)
}

// absentStreamWindow is the STREAM_WINDOW assumed for a peer whose SETTINGS
// leave it out (PROTOCOL.md section 1.3); our own default, which we always
// announce, is DefaultStreamWindow.
const absentStreamWindow = 1 << 20

// defaultSettings are assumed for a peer that did not announce a value.
var defaultSettings = settings{
	maxFrameSize:         DefaultMaxFrameSize,
	maxMessageSize:       DefaultMaxMessageSize,
	maxConcurrentStreams: DefaultMaxConcurrentStreams,
	streamWindow:         absentStreamWindow,
	connWindow:           DefaultConnWindow,
}

// legacySettings describe what a legacy peer can handle.
var legacySettings = settings{
	maxFrameSize:         LegacyMaxMessageSize,
	maxMessageSize:       LegacyMaxMessageSize,
	maxConcurrentStreams: 0, // we never open streams toward a legacy peer
	streamWindow:         maxWindow,
	connWindow:           maxWindow,
}

type config struct {
	settings
	keepAliveInterval time.Duration
	keepAliveTimeout  time.Duration
	handshakeTimeout  time.Duration
	writeTimeout      time.Duration // <= 0: disabled
	minPingInterval   time.Duration // <= 0: not enforced
	idleTimeout       time.Duration // <= 0: disabled
	maxConnBuffered   int64
	sizeHintCredit    int64         // <= 0: disabled
	watchPeriod       time.Duration // watchdog tick
	writeTicks        int64         // watchdog ticks without progress before a write timeout (0: disabled)
	idleTicks         int64         // watchdog ticks without stream before the idle GOAWAY (0: disabled)
	tls               *tls.Config
	logger            *slog.Logger
}

var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

func clampInt(v, def, lo, hi int) int {
	if v <= 0 {
		return def
	}
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

func (c *Config) resolve() config {
	if c == nil {
		c = &Config{}
	}
	r := config{
		settings: settings{
			maxFrameSize:         uint32(clampInt(c.MaxFrameSize, DefaultMaxFrameSize, MinFrameSize, MaxFrameSizeLimit)),
			maxMessageSize:       uint32(clampInt(c.MaxMessageSize, DefaultMaxMessageSize, 1, maxWindow)),
			maxConcurrentStreams: uint32(clampInt(c.MaxConcurrentStreams, DefaultMaxConcurrentStreams, 1, maxWindow)),
			streamWindow:         uint32(clampInt(c.StreamWindow, DefaultStreamWindow, 1, maxWindow)),
			connWindow:           uint32(clampInt(c.ConnWindow, DefaultConnWindow, 1, maxWindow)),
			sizeHints:            !c.DisableSizeHints,
		},
		keepAliveInterval: c.KeepAliveInterval,
		keepAliveTimeout:  c.KeepAliveTimeout,
		handshakeTimeout:  c.HandshakeTimeout,
		writeTimeout:      c.WriteTimeout,
		minPingInterval:   c.MinPingInterval,
		idleTimeout:       c.IdleTimeout,
		maxConnBuffered:   int64(c.MaxConnBuffered),
		sizeHintCredit:    int64(c.SizeHintCredit),
		tls:               c.TLSConfig,
		logger:            c.Logger,
	}
	if r.connWindow < r.streamWindow {
		r.connWindow = r.streamWindow
	}
	if r.keepAliveInterval == 0 {
		r.keepAliveInterval = DefaultKeepAliveInterval
	}
	if r.keepAliveTimeout <= 0 {
		r.keepAliveTimeout = DefaultKeepAliveTimeout
	}
	if r.handshakeTimeout <= 0 {
		r.handshakeTimeout = DefaultHandshakeTimeout
	}
	if r.logger == nil {
		r.logger = discardLogger
	}
	if r.writeTimeout == 0 {
		r.writeTimeout = DefaultWriteTimeout
	}
	if r.idleTimeout == 0 {
		r.idleTimeout = DefaultIdleTimeout
	}
	if r.minPingInterval == 0 {
		r.minPingInterval = DefaultMinPingInterval
		if r.keepAliveInterval > 0 && r.keepAliveInterval/2 < r.minPingInterval {
			r.minPingInterval = r.keepAliveInterval / 2
		}
	}
	if r.maxConnBuffered <= 0 {
		r.maxConnBuffered = DefaultMaxConnBuffered
	}
	if least := int64(r.connWindow) + int64(r.maxMessageSize); r.maxConnBuffered < least {
		r.maxConnBuffered = least
	}
	if r.sizeHintCredit == 0 {
		r.sizeHintCredit = r.maxConnBuffered / 2
	}
	r.sizeHintCredit = min(r.sizeHintCredit, r.maxConnBuffered)
	// The watchdog ticks at a quarter of the shortest timeout it enforces,
	// at most once a second.
	r.watchPeriod = time.Second
	for _, d := range []time.Duration{r.writeTimeout, r.idleTimeout} {
		if d > 0 && d/4 < r.watchPeriod {
			r.watchPeriod = max(d/4, time.Millisecond)
		}
	}
	ticks := func(d time.Duration) int64 {
		if d <= 0 {
			return 0
		}
		return int64((d + r.watchPeriod - 1) / r.watchPeriod)
	}
	r.writeTicks, r.idleTicks = ticks(r.writeTimeout), ticks(r.idleTimeout)
	return r
}

// serverBudget returns MaxServerBuffered resolved: 0 when disabled.
func (c *Config) serverBudget() int64 {
	if c == nil || c.MaxServerBuffered == 0 {
		return DefaultMaxServerBuffered
	}
	if c.MaxServerBuffered < 0 {
		return 0
	}
	return int64(c.MaxServerBuffered)
}
