// Package iip implements IIP (Internal Interaction Protocol): path-addressed
// request/response messages on logical channels of one TCP or TLS
// connection, client (Dial, NewClient), server (NewServer) and a balanced
// client over many servers (NewLoadBalanceClient, built on lbclient).
//
//	srv, err := iip.NewServer(iip.WithTLS(cfg)) // cfg: certificates
//	srv.HandleFunc("/echo", func(ctx context.Context, r *iip.Request) ([]byte, error) { return r.Data, nil })
//	go srv.ListenAndServe("127.0.0.1:9090")
//	client, err := iip.NewClient(ctx, "127.0.0.1:9090", iip.WithTLS(cfg)) // cfg: RootCAs
//	resp, err := client.Do(ctx, "/echo", []byte("hi"))
//
// Configuration is one model for both sides (options.go): the connection
// settings they share are a Config struct (WithConfig, checked by
// VerifyConfig), and every constructor takes functional options. An Option
// (WithConfig, WithTLS, WithLogger, WithControl) means the same to a client
// and a server; ClientOption and ServerOption are each side's own. Zero
// values mean the documented defaults; anything out of range is an error
// wrapping ErrInvalidConfig, never clamped. A server's resource limits and
// timeouts are two more structs, Limits (WithLimits) and Timeouts
// (WithTimeouts). The default logger is slog.Default().
//
// Files: the client side is client*.go: client_conn.go (Dial, Conn),
// client_channel.go (Channel), client.go (the pool, Client),
// client_balance.go (LoadBalanceClient), client_stream.go (DoStream,
// ResponseStream) and client_options.go; the server side is server*.go:
// server.go (Server), server_conn.go (one served connection),
// server_handler.go (Request, Handler, StreamRequest), server_stream.go
// (HandleStreamResponse, StreamWriter), server_budget.go (byte and handler
// budgets), server_stats.go and server_sys.go (statistics and the /sys/
// paths) and server_options.go (Limits, Timeouts); shared by both:
// config.go, options.go, const.go, errors.go, frame.go (reading frames),
// writer.go (writing them), window.go (flow control), socket.go and
// bufpool.go.
//
// The wire format is the one existing IIP peers speak; PROTOCOL.md in the
// module specifies it, together with the capabilities this implementation
// negotiates between its own client and server (typed errors, keepalive
// on a control channel, cancellation, graceful shutdown with goaway, and a
// smaller frame size for interleaving).
package iip
