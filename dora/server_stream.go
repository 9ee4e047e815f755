package dora

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/nap"
)

type streamKey struct{}

// serverStream is the ServerStream of a streaming call. Its context is the serverCall.
type serverStream struct {
	call     *serverCall
	recvDone bool
}

var _ ServerStream = (*serverStream)(nil)

func (ss *serverStream) Context() context.Context { return ss.call }

func (ss *serverStream) SetHeader(md metadata.MD) error { return ss.call.setHeader(md) }

func (ss *serverStream) SendHeader(md metadata.MD) error {
	if err := ss.SetHeader(md); err != nil {
		return err
	}
	c := ss.call
	hdr, first := c.takeHeader()
	if !first {
		return errors.New("dora: SendHeader: header already sent")
	}
	h := outHead{kind: kindHeader, meta: hdr}
	buf := getBuf()
	defer putBuf(buf)
	*buf = appendPkg((*buf)[:0], &h, nil)
	c.stats.out(len(*buf))
	if err := c.st.Send(*buf); err != nil {
		return c.streamError(err)
	}
	return nil
}

func (ss *serverStream) SetTrailer(md metadata.MD) { _ = ss.call.addTrailer(md) }

func (ss *serverStream) SendMsg(m any) error {
	c := ss.call
	// The message is reserved against the reply budgets while it is sent (budget.go),
	// before it is encoded when its size is known (proto messages): a message waiting for
	// budget holds no encoding.
	n := sizeHint(c.codec, m)
	reserved := false
	if n > 0 {
		if !c.tryTakeReply(n) {
			if err := c.srv.waitReply(c, int64(n)); err != nil {
				c.srv.noteStuck(c.conn, err)
				return err
			}
		}
		reserved = true
	}
	payload, buf := getBuf(), getBuf()
	var err error
	if *payload, err = marshal(c.codec, (*payload)[:0], m); err != nil {
		if reserved {
			c.giveReply(n, false)
		}
		putBuf(payload)
		putBuf(buf)
		return status.Errorf(codes.Internal, "dora: encoding %s message: %v", c.method, err)
	}
	hdr, _ := c.takeHeader() // nil after the first message
	h := outHead{kind: kindMessage, meta: hdr}
	*buf = appendPkg((*buf)[:0], &h, *payload)
	putBuf(payload)
	if reserved {
		c.resizeReply(n, len(*buf))
	} else if !c.tryTakeReply(len(*buf)) {
		// Size unknown before encoding: wait without holding the encoding, then encode again.
		size := len(*buf)
		putBuf(buf)
		if err := c.srv.waitReply(c, int64(size)); err != nil {
			c.srv.noteStuck(c.conn, err)
			return err
		}
		payload, buf = getBuf(), getBuf()
		if *payload, err = marshal(c.codec, (*payload)[:0], m); err != nil {
			c.giveReply(size, false)
			putBuf(payload)
			putBuf(buf)
			return status.Errorf(codes.Internal, "dora: encoding %s message: %v", c.method, err)
		}
		*buf = appendPkg((*buf)[:0], &h, *payload)
		putBuf(payload)
		c.resizeReply(size, len(*buf))
	}
	n = len(*buf)
	c.stats.out(n)
	err = c.st.Send(*buf)
	c.giveReply(n, err == nil)
	putBuf(buf)
	if err != nil {
		c.srv.noteStuck(c.conn, err)
		return c.streamError(err)
	}
	return nil
}

func (ss *serverStream) RecvMsg(m any) error {
	if ss.recvDone {
		return io.EOF
	}
	c := ss.call
	msg, err := c.st.Recv()
	if err != nil {
		if err == io.EOF {
			ss.recvDone = true
			return io.EOF
		}
		return c.streamError(err)
	}
	c.stats.in(len(msg))
	var p pkg
	if err := decodePkg(msg, &p); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if p.kind != kindMessage {
		return status.Errorf(codes.InvalidArgument, "dora: %s: got a Pkg of kind %d, want MESSAGE", c.method, p.kind)
	}
	if err := c.codec.Unmarshal(p.payload, m); err != nil {
		return status.Errorf(codes.InvalidArgument, "dora: decoding %s request: %v", c.method, err)
	}
	return nil
}

// streamError turns a nap error on a server stream into a status error.
func (c *serverCall) streamError(err error) error {
	if c.hasDeadline && !time.Now().Before(c.deadline) {
		return status.Error(codes.DeadlineExceeded, "dora: deadline exceeded")
	}
	return streamSendError(err)
}

// streamSendError turns a nap error on a server stream into a status error.
func streamSendError(err error) error {
	var se *nap.StreamError
	switch {
	case errors.As(err, &se) && se.Remote && se.Code == nap.CodeCancel:
		return status.Wrap(codes.Canceled, err)
	case errors.Is(err, nap.ErrMessageTooLarge):
		return status.Wrap(codes.ResourceExhausted, err)
	}
	return status.Wrap(codes.Unavailable, err)
}

func (s *Server) runStream(c *serverCall) {
	ss := &serverStream{call: c}
	c.stream = ss
	if c.hasDeadline {
		// Unblock a handler waiting in RecvMsg or SendMsg when the deadline passes, even if
		// the client does not reset the stream itself.
		st := c.st
		t := time.AfterFunc(time.Until(c.deadline), func() { st.Reset(nap.CodeCancel) })
		defer t.Stop()
	}
	err := s.callStreamHandler(c, ss)
	code, msg := errStatus(err)
	h := outHead{kind: kindTrailer, status: c.wireCode(code), message: msg}
	if code != codes.OK {
		h.details = c.errDetails(err)
	}
	if _, first := c.takeHeader(); first {
		h.meta = c.responseMeta() // trailers-only: the header travels in the trailer
	} else {
		c.mdMu.Lock()
		h.meta = c.trailer
		c.mdMu.Unlock()
	}
	buf := getBuf()
	*buf = appendPkg((*buf)[:0], &h, nil)
	sendErr := c.st.SendAndClose(*buf)
	c.stats.out(len(*buf))
	putBuf(buf)
	if sendErr != nil && code == codes.OK {
		code, err = codes.Unavailable, sendErr
	}
	c.stats.end(c, code, err)
	if sendErr == nil && !ss.recvDone {
		drainStream(c.st)
	}
}

// drainTimeout bounds how long a finished streaming call waits for the client to
// half-close or reset before its stream is reset.
const drainTimeout = 10 * time.Second

// drainStream waits for the client's side of a finished call to end. Closing the nap
// stream while the client may still send would reset it, and a reset makes nap drop the
// messages (the trailer included) the client has not read yet.
func drainStream(st *nap.Stream) {
	t := time.AfterFunc(drainTimeout, func() { st.Reset(nap.CodeCancel) })
	defer t.Stop()
	for {
		if _, err := st.Recv(); err != nil {
			return
		}
	}
}

func (s *Server) callStreamHandler(c *serverCall, ss *serverStream) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = s.panicked(c, r)
		}
	}()
	d := c.entry.stream
	if s.streamInt == nil {
		return d.Handler(c.entry.impl, ss)
	}
	info := &StreamServerInfo{FullMethod: c.method, IsClientStream: d.ClientStreams, IsServerStream: d.ServerStreams}
	return s.streamInt(c.entry.impl, ss, info, d.Handler)
}
