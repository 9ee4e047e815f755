package rpc_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/seed857a6cbd/pocket/benchmarks/internal/testkit"
)

// kitexGlobals are the goroutines Kitex starts that outlive what its users close:
// netpoll's poller, the ticker its connection pools share, one load-balancer cache watcher
// per resolver (per client address, a time.Tick loop Kitex never stops), and the workers
// of its package-level pool for calls with a deadline (kitex-mux's Dial makes two), kept
// for a minute after their last call. The tests' own clients and servers are closed.
var kitexGlobals = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/cloudwego/netpoll.(*defaultPoll).Wait"),
	goleak.IgnoreAnyFunction("github.com/cloudwego/kitex/pkg/utils.(*SharedTicker).Tick"),
	goleak.IgnoreAnyFunction("github.com/cloudwego/kitex/pkg/loadbalance/lbcache.(*BalancerFactory).watcher"),
	goleak.IgnoreAnyFunction("github.com/cloudwego/kitex/client.(*timeoutPool).createWorker.func1"),
	goleak.IgnoreAnyFunction("github.com/cloudwego/kitex/client.(*timeoutPool).createTicker.func1"),
}

func TestMain(m *testing.M) { testkit.Main(m, nil, kitexGlobals...) }
