package iip

import (
	"context"
	"fmt"
	"net"
)

// deployedSocketReadBuffer is the receive buffer (SO_RCVBUF) the client
// gives its connections to servers that did not accept our capabilities
// (deployed IIP servers), unless Config.SocketReadBuffer says otherwise:
// 64 KiB (Linux doubles it to 128 KiB). Deployed peers send with 16 KiB
// socket buffers; on loopback a receiver with the system's autotuned buffer
// makes them crawl (0.5-0.65 s per 1 MiB response, and a 16 MiB frame
// misses their 3 s write deadline, which drops the connection), whereas
// with 64 KiB a 1 MiB call takes 0.03-0.05 s. Between pocket peers the
// system's autotuned buffer is kept: a fixed 64 KiB made a 16 MiB echo
// several times slower. Sizes above 64 KiB stall again (96 KiB: 0.39 s per
// 1 MiB). Figures and the command are in BENCHMARKS.md.
const deployedSocketReadBuffer = 64 << 10

// sizeForPeer gives a connection the receive buffer its server calls for,
// once the capability handshake has told whether the server is ours (see
// Config.SocketReadBuffer); an explicit size was set at dial already.
func sizeForPeer(raw net.Conn, o *clientOptions, ours bool) error {
	if o.SocketReadBuffer != 0 || ours {
		return nil
	}
	return setSocketBuffers(raw, deployedSocketReadBuffer, 0)
}

// dialTCP dials addr with the socket options of o: o.Control before
// the connection is made (net.Dialer's Control), the buffer sizes once it
// is (net.TCPConn's SetReadBuffer and SetWriteBuffer, portable).
func dialTCP(ctx context.Context, addr string, o *clientOptions) (net.Conn, error) {
	d := net.Dialer{Control: o.Control}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if err := setSocketBuffers(nc, o.SocketReadBuffer, o.SocketWriteBuffer); err != nil {
		_ = nc.Close()
		return nil, err
	}
	return nc, nil
}

// setSocketBuffers sets the receive and send buffers of a TCP connection;
// a size of 0 or less leaves that one alone.
func setSocketBuffers(nc net.Conn, rcv, snd int) error {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	if rcv > 0 {
		if err := tc.SetReadBuffer(rcv); err != nil {
			return fmt.Errorf("set SO_RCVBUF %d: %w", rcv, err)
		}
	}
	if snd > 0 {
		if err := tc.SetWriteBuffer(snd); err != nil {
			return fmt.Errorf("set SO_SNDBUF %d: %w", snd, err)
		}
	}
	return nil
}

// sizedListener sets the socket buffers of every connection it accepts
// (Config.SocketReadBuffer and SocketWriteBuffer); a connection
// whose buffers cannot be set is served as it is.
type sizedListener struct {
	net.Listener
	rcv, snd int
}

func (l *sizedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		_ = setSocketBuffers(c, l.rcv, l.snd)
	}
	return c, err
}
