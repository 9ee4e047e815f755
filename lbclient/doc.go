// Package lbclient balances calls over many backends given as host:port#weight
// lists. It is generic over the connection type: it dials, pools, picks and
// health-checks values of any type C that implements io.Closer, and knows
// nothing of the protocol spoken over them. The iip and dora balanced clients
// are built on it.
//
// A Balancer[C] resolves a target into backends (a static list, DNS A/AAAA or
// SRV records re-resolved periodically, or a watched file), keeps a pool of
// connections per backend, picks a backend per call with one of four pickers
// (least-pending with power of two choices, smooth weighted round robin,
// weighted random, consistent hashing by key), records each call's outcome and
// latency, and ejects backends that fail repeatedly, letting a single trial
// call through after an exponential backoff.
//
// The shortest use, with conn a type of yours that implements io.Closer and
// dial a Dialer[conn], func(ctx context.Context, addr string) (conn, error), that connects to
// one backend:
//
//	b, err := lbclient.New("10.0.0.1:7000#2,10.0.0.2:7000", dial)
//	if err != nil { ... }
//	defer b.Close()
//	err = b.Do(ctx, "", func(ctx context.Context, c conn) error {
//		return c.Send(ctx, req) // your protocol's call on one connection
//	})
//
// Example in example_test.go runs this against real echo servers.
package lbclient
