//go:build !rpcbench_node || rpcbench_yamux

package transport

import (
	"io"
	"net"

	"github.com/hashicorp/yamux"
)

// yamuxConfig is yamux's default configuration with its logging silenced.
func yamuxConfig() *yamux.Config {
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	return cfg
}

type yamuxSession struct{ s *yamux.Session }

func (y yamuxSession) Accept() (io.ReadWriteCloser, error) { return y.s.Accept() }
func (y yamuxSession) Open() (io.ReadWriteCloser, error)   { return y.s.Open() }
func (y yamuxSession) Close() error                        { return y.s.Close() }

func init() {
	Register(&muxTransport{
		name: "yamux",
		server: func(c net.Conn) (muxSession, error) {
			s, err := yamux.Server(c, yamuxConfig())
			return yamuxSession{s}, err
		},
		client: func(c net.Conn) (muxSession, error) {
			s, err := yamux.Client(c, yamuxConfig())
			return yamuxSession{s}, err
		},
	})
}
