package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
	"github.com/seed857a6cbd/pocket/benchmarks/kv"
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
			&cli.IntFlag{Name: "kv-user", Value: kv.DefaultUser},
			&cli.StringFlag{Name: "kv-mysql-dsn"},
			&cli.StringFlag{Name: "kv-redis-addr"},
			&cli.StringFlag{Name: "kv-etserver", Usage: "the etserver binary of the kv suite"},
		},
		Action: func(c *cli.Context) error {
			store := kv.StoreOptions{Binary: c.String("kv-etserver"), Users: c.Int("kv-user"), MySQLDSN: c.String("kv-mysql-dsn"),
				RedisAddr: c.String("kv-redis-addr"), Log: c.App.ErrWriter}
			return serve(c.String("suite"), c.String("framework"), store, c.App.Reader, c.App.Writer)
		},
	}
}

// listen starts the named implementation of the suite on a fresh loopback port; the kv
// suite's server is an etserver process on the store store describes (seeded first).
func listen(suite, name string, store kv.StoreOptions) (io.Closer, string, error) {
	if suite == suiteKV {
		return listenKV(name, store)
	}
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

// listenKV starts etserver for the kv client name: its usage snapshots are etserver's
// (usager), not this process's.
func listenKV(name string, store kv.StoreOptions) (io.Closer, string, error) {
	if _, err := kv.Lookup(name); err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), serverStartTimeoutKV)
	defer cancel()
	srv, err := kv.StartServer(ctx, store)
	if err != nil {
		return nil, "", err
	}
	return srv, srv.Addr, nil
}

// usager is a server whose usage is not this process's (kv.Server: an etserver process).
type usager interface {
	Usage(ctx context.Context) (harness.Usage, error)
}

// snapshot is srv's usage when it reports its own, this process's otherwise.
func snapshot(srv io.Closer) (harness.Usage, error) {
	if u, ok := srv.(usager); ok {
		return u.Usage(context.Background())
	}
	return harness.Snapshot()
}

func serve(suite, name string, store kv.StoreOptions, in io.Reader, out io.Writer) (err error) {
	srv, addr, err := listen(suite, name, store)
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
			u, err := snapshot(srv)
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
