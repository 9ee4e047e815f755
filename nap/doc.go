// Package nap is a framed, multiplexed message transport over TCP and TLS:
// many concurrent streams on one connection, each carrying a sequence of
// whole messages in each direction, with per-stream and per-connection flow
// control, fair interleaving of large and small messages, keepalive, stream
// reset and graceful shutdown (GOAWAY).
//
// A client dials and opens streams:
//
//	sess, err := nap.Dial(ctx, "tcp", "127.0.0.1:7000", nil)
//	st, err := sess.OpenStream(ctx)
//	err = st.SendAndClose(request)
//	reply, err := st.Recv()
//	err = sess.Shutdown(ctx)
//
// A server accepts sessions and their streams:
//
//	ln, err := nap.Listen("tcp", "127.0.0.1:7000", nil)
//	sess, err := ln.Accept()
//	st, err := sess.AcceptStream(ctx)
//
// Servers also serve legacy clients of the previous protocol version (no
// handshake, one DATA frame per request and per answer): they are detected
// from their first frame and appear as ordinary streams.
//
// The wire protocol is specified in PROTOCOL.md. Errors start with "nap:"
// and match the package's sentinel errors with errors.Is; IsRetryable tells
// whether a failed call can be retried on another connection.
package nap
