package nap

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config configures a Session (go-redis style: a nil *Config, and every zero
// field, means the documented default constant). Each field's doc gives its
// default and its valid range; VerifyConfig checks them, and the
// constructors (Dial, Client, Server, Listen, NewListener) return its error
// for a value out of range: nothing is clamped. The same Config may be shared
// by many sessions; it must not be modified while in use.
type Config struct {
	// MaxFrameSize is the largest DATA payload per frame we accept (announced
	// to the peer) and send. Frames beyond 64 KiB go out only while their
	// stream is the only one with data for the writer (README, "Frames"), so
	// raising it on both sides speeds up a lone large message without making
	// small messages of other streams wait behind larger frames; the peer may
	// then make us take up to one frame of memory before its bytes arrive.
	// Default DefaultMaxFrameSize (64 KiB); valid MinFrameSize (1 KiB) to
	// MaxFrameSizeLimit (16 MiB - 1). Legacy peers always use 64 KiB.
	MaxFrameSize int
	// MaxMessageSize is the largest message we accept; a larger one resets its
	// stream with CodeMessageTooLarge and the connection lives on. Default
	// DefaultMaxMessageSize (4 MiB); valid 1 to 2^31-1.
	MaxMessageSize int
	// MaxConcurrentStreams is how many streams the PEER may have open toward
	// us; more are refused with CodeStreamLimit (retryable). Default
	// DefaultMaxConcurrentStreams (1024); valid 1 to 2^31-1.
	MaxConcurrentStreams int
	// StreamWindow is the initial per-stream receive window in bytes: the
	// most unread data the peer can make us hold on one stream (a stalled
	// reader blocks only its own stream). What one connection can make us
	// hold is therefore at most MaxConcurrentStreams x StreamWindow, plus
	// the part already received of messages a Recv is waiting for. Default
	// DefaultStreamWindow (272 KiB: 256 KiB and room for an RPC envelope);
	// valid 1 to 2^31-1.
	StreamWindow int
	// ConnWindow is the connection receive window in bytes: the most data in
	// transit on the connection (credited as soon as a frame reaches its
	// stream). Default DefaultConnWindow (4 MiB), or StreamWindow when that
	// is larger; valid StreamWindow to 2^31-1.
	ConnWindow int
	// KeepAliveInterval is the idle time after which we send a PING. Default
	// DefaultKeepAliveInterval (30 s); negative disables keepalive.
	KeepAliveInterval time.Duration
	// KeepAliveTimeout is how long a PING may stay unanswered (no frame at all
	// received) before the session fails with ErrKeepAliveTimeout. Default
	// DefaultKeepAliveTimeout (10 s); valid: positive.
	KeepAliveTimeout time.Duration
	// HandshakeTimeout bounds the whole handshake with one deadline. Client:
	// the TLS handshake (Dial) and the wait for the server's SETTINGS. Server:
	// from the accept to the end of the first SETTINGS (or, for a legacy
	// peer, the first complete DATA frame), TLS handshake included; PINGs
	// before it are answered but do not extend it, so a peer that trickles
	// bytes or sends only PINGs is closed with ErrHandshakeTimeout. Default
	// DefaultHandshakeTimeout (10 s); valid: positive.
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
	// strikes. Default DefaultMinPingInterval (1 s), or half our own
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
	// CodeResourceExhausted. Default DefaultMaxConnBuffered (16 MiB), or
	// ConnWindow + MaxMessageSize when that is larger; valid: at least
	// ConnWindow + MaxMessageSize (one message of the largest size always
	// fits).
	MaxConnBuffered int
	// MaxServerBuffered is the budget of received message bytes all sessions
	// of one Listener hold together (sessions made with Server directly
	// share none). When it is full, new streams are refused with
	// CodeStreamLimit (retryable) and the session holding the most resets
	// its largest stream (CodeResourceExhausted) until the total fits.
	// Default DefaultMaxServerBuffered (64 MiB); any positive value is
	// valid; negative disables.
	MaxServerBuffered int
	// disableSizeHints stops announcing SIZE_HINTS (PROTOCOL.md section
	// 1.1): the peer then sends no message size with the first frame of a
	// large message, and such a message is assembled in a buffer that grows
	// as its frames arrive. For this package's tests and benchmarks, which
	// compare the two paths; v0.2.0 exported it.
	disableSizeHints bool
	// SizeHintCredit is how much of the connection's memory may be promised
	// to messages whose first frame announces their size: when the
	// application waits in Recv for such a message, larger than its stream
	// window, and what the connection holds plus the message is at most
	// SizeHintCredit, the whole rest of the message is credited at once,
	// instead of one window per round trip as its fragments arrive (a single
	// large call is not throttled). Streams nobody reads keep their window
	// (but see EagerCredit).
	// Default (zero): half of MaxConnBuffered once resolved, 8 MiB with the
	// defaults; valid: at most MaxConnBuffered; negative disables.
	SizeHintCredit int
	// YieldToReader makes the read loop yield its P (runtime.Gosched) after
	// it hands a message of 16 KiB or more to a goroutine waiting for it in
	// Recv, so that goroutine consumes the message, and its credit goes back
	// to the sender, before the read loop reads on. Without it, in a process
	// with one P (GOMAXPROCS=1, a container limited to one core) the read
	// loop keeps the only P while the socket has data: the reader runs only
	// once a whole window is read and a bulk sender waits for credit.
	// Between two one-core processes it took bulk transfer from 74 % to
	// 90-95 % of raw TCP (BENCHMARKS.md); with more Ps it costs a scheduler
	// round per large message and buys nothing. Default false; the process's
	// GOMAXPROCS is not looked at (it may change at run time): set it when
	// the process runs with one P.
	//
	// EXPERIMENTAL: a performance option; it may change or go away in a
	// later release.
	YieldToReader bool
	// EagerCredit makes the read loop credit the first message of a stream
	// the peer has just opened as soon as the message's first frame is in,
	// when that frame announces a size larger than the stream window (on
	// SizeHintCredit's terms, as for a waiting Recv), instead of once the
	// application has accepted the stream and waits in Recv; and it makes
	// the read loop yield its P (runtime.Gosched) after it queues the credit
	// for an announced message (this one, or one a Recv waits for), so that
	// the writer goroutine sends the WINDOW_UPDATE at once rather than after
	// the read loop has read what the socket holds. Why: a sender that has
	// written a whole window waits a round trip for the rest of the message;
	// a 256 KiB call on a 256 KiB window (a few bytes larger with its
	// envelope; the default window now has room for it) waited for its last
	// bytes in each direction. Between two one-core processes it took the
	// median latency of dora's 256 KiB echo call from 446-526 to 375-441 µs
	// (BENCHMARKS.md, "Eager credit"), for messages larger than the window. The
	// cost: a stream the application never reads holds its first message's
	// share of SizeHintCredit (the memory bounds are unchanged: what a
	// connection holds stays within MaxConnBuffered), and a scheduler round
	// per large message. Default false.
	//
	// EXPERIMENTAL: a performance option; it may change or go away in a
	// later release.
	EagerCredit bool
	// Congestion names the TCP congestion-control algorithm of the session's
	// connection ("cubic", "reno", "bbr": Linux's TCP_CONGESTION socket
	// option), set when the session starts (on the socket under a TLS
	// connection too). Default "": the system's
	// (net.ipv4.tcp_congestion_control).
	//
	// Why: on a host whose default is BBR and whose qdisc is not fq, Linux
	// paces every connection with a timer, and one connection that carries
	// many large messages at once is held to what that timer lets through:
	// on loopback, dora's 16 callers of 256 KiB over one nap connection
	// moved 1.26-1.46x as much with "cubic" on this project's benchmark
	// machine, where 16 raw TCP connections are never paced (BENCHMARKS.md,
	// "Congestion control"). Pacing is what BBR is for on lossy, long
	// paths: measure before choosing for a WAN.
	//
	// VerifyConfig refuses a name the kernel does not have
	// (net.ipv4.tcp_available_congestion_control), and any name on systems
	// other than Linux. A process without CAP_NET_ADMIN may only pick one
	// of net.ipv4.tcp_allowed_congestion_control: the kernel refuses the
	// others for every connection, which makes Dial and Client fail, Server
	// return the error (conn is left open) and Listener.Accept close the
	// connection, log it at Warn level and go on accepting.
	Congestion string
	// TLSConfig, when non-nil, makes Dial use tls.Client and Listen use
	// tls.NewListener. Dial fills ServerName from the address when empty.
	// Default nil: plain TCP.
	TLSConfig *tls.Config
	// Logger receives connection-level events (protocol errors, keepalive
	// failures) at Debug/Warn level. Default nil: slog.Default(), as in
	// every pocket library; slog.New(slog.DiscardHandler) discards.
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
	serverBudget      int64         // MaxServerBuffered resolved; 0: disabled
	yieldToReader     bool          // YieldToReader
	eagerCredit       bool          // EagerCredit
	watchPeriod       time.Duration // watchdog tick
	writeTicks        int64         // watchdog ticks without progress before a write timeout (0: disabled)
	idleTicks         int64         // watchdog ticks without stream before the idle GOAWAY (0: disabled)
	congestion        string        // Congestion; "": the system's
	tls               *tls.Config
	logger            *slog.Logger
}

// ErrInvalidConfig is wrapped by the error of VerifyConfig, and so of every
// constructor given a Config it refuses.
var ErrInvalidConfig = errors.New("nap: invalid config")

// VerifyConfig reports whether cfg can be used: nil when every field is zero
// (the default) or within the range its doc comment gives, an error wrapping
// ErrInvalidConfig that names the first field out of range otherwise. Values
// are never clamped: Dial, Client, Server, Listen and NewListener return this
// error. A nil cfg is valid (all defaults).
func VerifyConfig(cfg *Config) error {
	_, err := cfg.resolve()
	return err
}

// checkRange checks a field whose zero value means def: v must be 0 or in
// [lo, hi]; it returns v resolved.
func checkRange(name string, v, def, lo, hi int) (int, error) {
	if v == 0 {
		return def, nil
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("%w: %s is %d, want 0 (default %d) or %d to %d", ErrInvalidConfig, name, v, def, lo, hi)
	}
	return v, nil
}

// resolve verifies c and returns it with every default filled in.
func (c *Config) resolve() (config, error) {
	if c == nil {
		c = &Config{}
	}
	var err error
	field := func(name string, v, def, lo, hi int) uint32 {
		r, ferr := checkRange(name, v, def, lo, hi)
		if err == nil {
			err = ferr
		}
		return uint32(r)
	}
	r := config{
		settings: settings{
			maxFrameSize:         field("MaxFrameSize", c.MaxFrameSize, DefaultMaxFrameSize, MinFrameSize, MaxFrameSizeLimit),
			maxMessageSize:       field("MaxMessageSize", c.MaxMessageSize, DefaultMaxMessageSize, 1, maxWindow),
			maxConcurrentStreams: field("MaxConcurrentStreams", c.MaxConcurrentStreams, DefaultMaxConcurrentStreams, 1, maxWindow),
			streamWindow:         field("StreamWindow", c.StreamWindow, DefaultStreamWindow, 1, maxWindow),
			sizeHints:            !c.disableSizeHints,
		},
		keepAliveInterval: c.KeepAliveInterval,
		keepAliveTimeout:  c.KeepAliveTimeout,
		handshakeTimeout:  c.HandshakeTimeout,
		writeTimeout:      c.WriteTimeout,
		minPingInterval:   c.MinPingInterval,
		idleTimeout:       c.IdleTimeout,
		maxConnBuffered:   int64(c.MaxConnBuffered),
		sizeHintCredit:    int64(c.SizeHintCredit),
		yieldToReader:     c.YieldToReader,
		eagerCredit:       c.EagerCredit,
		congestion:        c.Congestion,
		tls:               c.TLSConfig,
		logger:            c.Logger,
	}
	// The connection window holds at least one stream window.
	r.connWindow = field("ConnWindow", c.ConnWindow, max(DefaultConnWindow, int(r.streamWindow)), int(r.streamWindow), maxWindow)
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"KeepAliveTimeout", c.KeepAliveTimeout}, {"HandshakeTimeout", c.HandshakeTimeout}} {
		if d.v < 0 && err == nil {
			err = fmt.Errorf("%w: %s is %v, want 0 (default) or more", ErrInvalidConfig, d.name, d.v)
		}
	}
	// One message of the largest size always fits in the connection budget.
	least := int64(r.connWindow) + int64(r.maxMessageSize)
	switch {
	case r.maxConnBuffered == 0:
		r.maxConnBuffered = max(DefaultMaxConnBuffered, least)
	case r.maxConnBuffered < least && err == nil:
		err = fmt.Errorf("%w: MaxConnBuffered is %d, want 0 (default) or at least ConnWindow + MaxMessageSize = %d", ErrInvalidConfig, r.maxConnBuffered, least)
	}
	switch {
	case r.sizeHintCredit == 0:
		r.sizeHintCredit = r.maxConnBuffered / 2
	case r.sizeHintCredit > r.maxConnBuffered && err == nil:
		err = fmt.Errorf("%w: SizeHintCredit is %d, want at most MaxConnBuffered (%d)", ErrInvalidConfig, r.sizeHintCredit, r.maxConnBuffered)
	}
	if r.congestion != "" && err == nil {
		err = checkCongestion(r.congestion)
	}
	if err != nil {
		return config{}, err
	}
	if r.keepAliveInterval == 0 {
		r.keepAliveInterval = DefaultKeepAliveInterval
	}
	if r.keepAliveTimeout == 0 {
		r.keepAliveTimeout = DefaultKeepAliveTimeout
	}
	if r.handshakeTimeout == 0 {
		r.handshakeTimeout = DefaultHandshakeTimeout
	}
	if r.logger == nil {
		r.logger = slog.Default()
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
	r.serverBudget = int64(c.MaxServerBuffered)
	switch {
	case r.serverBudget == 0:
		r.serverBudget = DefaultMaxServerBuffered
	case r.serverBudget < 0:
		r.serverBudget = 0
	}
	return r, nil
}
