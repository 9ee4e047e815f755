// Package lbclient balances calls over many backends given as host:port#weight
// lists, in grpc-go's shape: a resolver keeps the backend set, each backend
// has one shared client supplied by the caller (a value of any type C that
// implements io.Closer: an iip.Client, a dora per-server client...), and a
// picker chooses a backend per call while health checks keep failing
// backends out. lbclient knows nothing of the protocol and keeps no
// connections of its own: the shared client multiplexes and reconnects.
//
// A Balancer[C] resolves a target into backends (a static list, DNS A/AAAA or
// SRV records re-resolved periodically, or a watched file), calls a
// NewClientFunc once per backend, picks a backend per call with a Picker
// (least-pending with power of two choices, smooth weighted round robin,
// weighted random, consistent hashing by key, or one of your own), records
// each call's outcome and latency, and ejects backends that fail repeatedly,
// letting a single trial call through after an exponential backoff, or as
// soon as a backend seen down answers again (WithRecovery). A call whose
// function reports, with NotSent, that it never reached its backend is tried
// again, on another backend when the set has one (else on the same one's next
// connection): the one retry policy of every balanced client here.
//
// The shortest use, with Client a type of yours that implements io.Closer and
// newClient a NewClientFunc[*Client], func(addr string) (*Client, error):
//
//	b, err := lbclient.New("10.0.0.1:7000#2,10.0.0.2:7000", newClient)
//	if err != nil { ... }
//	defer b.Close()
//	err = b.Do(ctx, "", func(ctx context.Context, c *Client) error {
//		return c.Send(ctx, req) // your protocol's call; NotSent(err) if it never left
//	})
//
// Example in example_test.go runs this against real echo servers.
package lbclient
