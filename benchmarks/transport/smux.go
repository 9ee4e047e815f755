//go:build !rpcbench_node || rpcbench_smux

package transport

import (
	"io"
	"net"

	"github.com/xtaci/smux"
)

type smuxSession struct{ s *smux.Session }

func (x smuxSession) Accept() (io.ReadWriteCloser, error) { return x.s.AcceptStream() }
func (x smuxSession) Open() (io.ReadWriteCloser, error)   { return x.s.OpenStream() }
func (x smuxSession) Close() error                        { return x.s.Close() }

// smux runs with smux.DefaultConfig (protocol version 1).
func init() {
	Register(&muxTransport{
		name: "smux",
		server: func(c net.Conn) (muxSession, error) {
			s, err := smux.Server(c, smux.DefaultConfig())
			return smuxSession{s}, err
		},
		client: func(c net.Conn) (muxSession, error) {
			s, err := smux.Client(c, smux.DefaultConfig())
			return smuxSession{s}, err
		},
	})
}
