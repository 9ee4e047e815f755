package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
	"github.com/seed857a6cbd/pocket/benchmarks/rpc"
	"github.com/seed857a6cbd/pocket/benchmarks/transport"
)

// The line protocol between rpcbench and its server process: the server prints
// "listening ADDR" once, then answers every "snapshot" line on its stdin with
// "snapshot {json harness.Usage}"; "quit" or the end of stdin stops it.
const (
	lineListening = "listening "
	lineSnapshot  = "snapshot"
	lineQuit      = "quit"
)

func serverCommand() *cli.Command {
	return &cli.Command{
		Name:   "server",
		Usage:  "(internal) serve one framework on 127.0.0.1 and report usage snapshots on request",
		Hidden: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "suite", Required: true},
			&cli.StringFlag{Name: "framework", Required: true},
		},
		Action: func(c *cli.Context) error {
			return serve(c.String("suite"), c.String("framework"), c.App.Reader, c.App.Writer)
		},
	}
}

// listen starts the named implementation of the suite on a fresh loopback port.
func listen(suite, name string) (io.Closer, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("rpcbench: %w", err)
	}
	var srv io.Closer
	switch suite {
	case suiteRPC, suiteIIP:
		f, lerr := rpc.Lookup(name)
		if lerr != nil {
			err = lerr
			break
		}
		srv, err = f.Serve(ln)
	case suiteTransport:
		t, lerr := transport.Lookup(name)
		if lerr != nil {
			err = lerr
			break
		}
		srv, err = t.Serve(ln)
	default:
		err = fmt.Errorf("rpcbench: unknown suite %q", suite)
	}
	if err != nil {
		ln.Close()
		return nil, "", err
	}
	return srv, ln.Addr().String(), nil
}

func serve(suite, name string, in io.Reader, out io.Writer) (err error) {
	srv, addr, err := listen(suite, name)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := srv.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := fmt.Fprintf(out, "%s%s\n", lineListening, addr); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		switch sc.Text() {
		case lineSnapshot:
			u, err := harness.Snapshot()
			if err != nil {
				return err
			}
			b, err := json.Marshal(u)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(out, "%s %s\n", lineSnapshot, b); err != nil {
				return err
			}
		case lineQuit:
			return nil
		default:
			return fmt.Errorf("rpcbench: server: unknown command %q", sc.Text())
		}
	}
	return sc.Err()
}
