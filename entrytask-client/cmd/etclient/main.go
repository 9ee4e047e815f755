// Command etclient logs in to etserver, reads and writes keys, and benchmarks it.
//
//	etclient COMMAND [OPTIONS]          COMMAND: login | read | write | benchmark read|write
//	etclient login,write,read -u 100 -p 100 -k b -v n
//	etclient benchmark read -u 100000 -p 100000 -k c -c 12 -r 10000
//
// See the module README for every command and option.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args, cli.Env{})
	stop()
	os.Exit(code)
}
