package nap

import (
	"crypto/tls"
	"fmt"
	"net"
)

// Server creates the server side of a session over conn and returns at
// once; the handshake (or legacy detection) happens when the first frame
// arrives. A connection whose first frame does not arrive within
// HandshakeTimeout is closed with ErrHandshakeTimeout. The error is non-nil
// only for a nil conn, a cfg that VerifyConfig refuses, or a Congestion the
// kernel refuses for conn (conn is then left open).
func Server(conn net.Conn, cfg *Config) (*Session, error) {
	if conn == nil {
		return nil, fmt.Errorf("nap: Server: nil conn")
	}
	rc, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	if rc.congestion != "" {
		if err := setCongestion(conn, rc.congestion); err != nil {
			return nil, err
		}
	}
	return serverSession(conn, rc, nil), nil
}

// serverSession starts a server session that counts toward budget (nil: none).
func serverSession(conn net.Conn, cfg config, budget *serverBudget) *Session {
	s := newSession(conn, cfg, false)
	if budget != nil {
		s.budget = budget
		budget.join(s)
	}
	s.mu.Lock()
	s.handshakeTimer = newHandshakeTimer(s)
	s.mu.Unlock()
	s.run()
	return s
}

// Listener accepts nap server sessions. Its sessions share one buffer
// budget, MaxServerBuffered.
type Listener struct {
	ln     net.Listener
	cfg    config
	budget *serverBudget // nil when MaxServerBuffered is negative
}

// Listen listens on address ("tcp", "127.0.0.1:0"); over TLS when
// cfg.TLSConfig is set. It returns VerifyConfig's error, before listening,
// for a cfg out of range.
func Listen(network, address string, cfg *Config) (*Listener, error) {
	if err := VerifyConfig(cfg); err != nil {
		return nil, err
	}
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, fmt.Errorf("nap: listen %s: %w", address, err)
	}
	if cfg != nil && cfg.TLSConfig != nil {
		ln = tls.NewListener(ln, cfg.TLSConfig)
	}
	return NewListener(ln, cfg)
}

// NewListener serves nap on an existing listener (wrap it with
// tls.NewListener yourself for TLS; cfg.TLSConfig is not used here). The
// sessions it accepts share one buffer budget of cfg.MaxServerBuffered
// (default DefaultMaxServerBuffered, 64 MiB). It returns VerifyConfig's
// error for a cfg out of range (ln is then left open).
func NewListener(ln net.Listener, cfg *Config) (*Listener, error) {
	rc, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	l := &Listener{ln: ln, cfg: rc}
	if rc.serverBudget > 0 {
		l.budget = newServerBudget(rc.serverBudget)
	}
	return l, nil
}

// Accept waits for the next connection and returns its session. It never
// waits for a handshake (TLS included): that happens in the session. A
// connection whose socket refuses Config.Congestion is closed and logged at
// Warn level, and Accept waits for the next one.
func (l *Listener) Accept() (*Session, error) {
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			return nil, fmt.Errorf("nap: accept: %w", err)
		}
		if l.cfg.congestion != "" {
			if err := setCongestion(conn, l.cfg.congestion); err != nil {
				l.cfg.logger.Warn("nap: connection refused: its congestion control cannot be set",
					"remote", conn.RemoteAddr().String(), "err", err)
				_ = conn.Close()
				continue
			}
		}
		return serverSession(conn, l.cfg, l.budget), nil
	}
}

// Addr returns the listener's address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Close stops listening; sessions already accepted are not affected.
func (l *Listener) Close() error { return l.ln.Close() }
