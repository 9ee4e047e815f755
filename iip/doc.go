// Package iip implements IIP (Internal Interaction Protocol): path-addressed
// request/response messages on logical channels of one TCP or TLS
// connection, client (Dial, NewClient) and server (NewServer).
//
// The wire format is the one existing IIP peers speak; PROTOCOL.md in the
// module specifies it, together with the capabilities this implementation
// negotiates between its own client and server (typed errors, keepalive).
package iip
