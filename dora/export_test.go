package dora

import "time"

// ReplyBytesInUse returns the reply bytes reserved on s and on all its connections
// together, for tests (budget.go).
func ReplyBytesInUse(s *Server) (server, conns int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cs := range s.sessions {
		conns += cs.replies.used.Load()
	}
	return s.replies.used.Load(), conns
}

// MetaStatus is metaStatus, for tests of response decoding (client.go).
var MetaStatus_ = metaStatus

// Gunzip is gunzip (compress.go), for tests of the decompression bound.
var Gunzip = gunzip

// CallWorkersStarted returns how many call workers s has started (IdleCallWorkers).
func CallWorkersStarted(s *Server) int64 { return s.started.Load() }

// ClientSettings returns the session limit, reconnect backoff and dial timeout c resolved
// from its options (options.go).
func ClientSettings(c *Client) (maxConns int, backoffBase, backoffMax, dialTimeout time.Duration) {
	return c.opts.maxConns, c.opts.backoffBase, c.opts.backoffMax, c.opts.dialTimeout
}
