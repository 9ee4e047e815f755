package nap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// Dial connects to address ("tcp", "127.0.0.1:7000"), over TLS when
// cfg.TLSConfig is set, and performs the nap handshake. ctx bounds the whole
// dial; HandshakeTimeout bounds the TLS and nap handshakes together (one
// deadline). It returns VerifyConfig's error, before dialing, for a cfg out
// of range.
func Dial(ctx context.Context, network, address string, cfg *Config) (*Session, error) {
	rc, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("nap: dial %s: %w", address, err)
	}
	deadline := time.Now().Add(rc.handshakeTimeout)
	if rc.tls != nil {
		tc := rc.tls
		if tc.ServerName == "" {
			tc = tc.Clone()
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				host = address
			}
			tc.ServerName = host
		}
		tconn := tls.Client(conn, tc)
		hctx, cancel := context.WithDeadline(ctx, deadline)
		err := tconn.HandshakeContext(hctx)
		cancel()
		if err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("nap: TLS handshake with %s: %w", address, err)
		}
		conn = tconn
	}
	return clientHandshake(ctx, conn, rc, deadline)
}

// Client creates the client side of a session over an existing connection:
// it sends SETTINGS and waits up to HandshakeTimeout for the server's. On
// failure the connection is closed. It returns VerifyConfig's error for a
// cfg out of range (conn is then left open).
func Client(conn net.Conn, cfg *Config) (*Session, error) {
	rc, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	return clientHandshake(context.Background(), conn, rc, time.Now().Add(rc.handshakeTimeout))
}

func clientHandshake(ctx context.Context, conn net.Conn, cfg config, deadline time.Time) (*Session, error) {
	if cfg.congestion != "" {
		if err := setCongestion(conn, cfg.congestion); err != nil {
			_ = conn.Close()
			return nil, err
		}
	}
	s := newSession(conn, cfg, true)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	peer, err := s.exchangeSettings()
	stop()
	_ = conn.SetDeadline(time.Time{})
	if err != nil {
		_ = conn.Close()
		s.br.Reset(nil)
		readerPool.Put(s.br)
		s.releaseBuffers()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("nap: handshake: %w", ctx.Err())
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("nap: no SETTINGS from %s within %v: %w", conn.RemoteAddr(), s.cfg.handshakeTimeout, ErrHandshakeTimeout)
		}
		return nil, err
	}
	s.mode = modeV2
	s.firstFrame = true
	s.handshakeDone = true
	s.setPeerSettings(peer)
	s.run()
	return s, nil
}

// exchangeSettings writes our SETTINGS and reads the server's.
func (s *Session) exchangeSettings() (settings, error) {
	if _, err := s.bw.Write(appendSettings(nil, s.cfg.settings)); err != nil {
		return settings{}, ioError("handshake write", err)
	}
	if err := s.bw.Flush(); err != nil {
		return settings{}, ioError("handshake write", err)
	}
	var hdr [headerSize]byte
	if _, err := io.ReadFull(s.br, hdr[:]); err != nil {
		return settings{}, ioError("handshake read", err)
	}
	h := parseHeader(hdr[:])
	if h.typ != frameSettings {
		return settings{}, protocolErrorf("server's first frame is %s (type 0x%x), want SETTINGS", h.typ, uint8(h.typ))
	}
	if err := checkHeader(h, s.cfg.maxFrameSize, false); err != nil {
		return settings{}, err
	}
	p := make([]byte, h.length)
	if _, err := io.ReadFull(s.br, p); err != nil {
		return settings{}, ioError("handshake read", err)
	}
	return parseSettings(p)
}
