// Package iip implements IIP (Internal Interaction Protocol): path-addressed
// request/response messages on logical channels of one TCP or TLS
// connection, client (Dial, NewClient), server (NewServer) and a balanced
// client over many servers (NewLoadBalanceClient, built on lbclient).
//
// The wire format is the one existing IIP peers speak; PROTOCOL.md in the
// module specifies it, together with the capabilities this implementation
// negotiates between its own client and server (typed errors, keepalive
// on a control channel, cancellation, graceful shutdown with goaway, and a
// smaller frame size for interleaving).
package iip
