package dora

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/seed857a6cbd/pocket/dora/codec"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/lbclient"
	"github.com/seed857a6cbd/pocket/nap"
)

// clientStream is the ClientStream of a streaming call.
type clientStream struct {
	ctx    context.Context
	cancel context.CancelFunc // from Timeout; nil without
	st     *nap.Stream
	desc   *StreamDesc
	method string
	codec  codec.Codec
	ci     callInfo
	stats  *callStats
	stop   func() bool // unregisters the ctx watcher
	// onDone, the balancer's, is told the call's outcome once (nil for
	// success): from finish, or when ctx ends first.
	onDone   func(error)
	released atomic.Bool

	sendMu     sync.Mutex
	sendClosed bool

	recvMu      sync.Mutex // serialises Header and RecvMsg (one nap receiver)
	headerKnown bool
	header      metadata.MD
	pending     *pkg   // a MESSAGE read by Header, for the next RecvMsg
	pendingBuf  []byte // keeps pending's bytes
	trailer     metadata.MD
	done        bool
	finalErr    error // io.EOF on success, else the status error
	gotMsg      bool  // a response was received (non-server-streaming calls)

	finishOnce sync.Once
}

var _ ClientStream = (*clientStream)(nil)

// newStream opens a stream on this server with resolved call options (the Client applied
// the call's timeout); onDone is told the call's outcome once. Errors of streams that never
// reached the server are marked with lbclient.NotSent, and onDone is not called on error.
func (c *subConn) newStream(ctx context.Context, desc *StreamDesc, method string, ci callInfo, onDone func(error)) (_ *clientStream, err error) {
	cs := &clientStream{desc: desc, method: method, ci: ci}
	if len(c.opts.stats) > 0 {
		ctx, cs.stats = beginStats(ctx, c.opts.stats, CallInfo{FullMethod: method, Client: true,
			ClientStream: desc.ClientStreams, ServerStream: desc.ServerStreams})
		defer func() {
			if err != nil {
				cs.stats.end(ctx, status.Code(err), plainErr(err))
			}
		}()
	}
	cs.ctx = ctx
	if cs.codec, err = lookupCodec(cs.ci.codec); err != nil {
		return nil, err
	}
	md, err := outgoingMD(ctx, &cs.ci)
	if err != nil {
		return nil, err
	}
	tmo, err := timeoutUs(ctx)
	if err != nil {
		return nil, err
	}
	h := outHead{serializeType: cs.codec.Name(), seq: c.seq.Add(1), method: method, meta: md, timeoutUs: tmo, kind: kindOpen}
	buf := getBuf()
	defer putBuf(buf)
	*buf = appendPkg((*buf)[:0], &h, nil)
	if cs.st, err = c.openStream(ctx, cs.ci.waitForReady); err != nil {
		return nil, lbclient.NotSent(err)
	}
	if err = cs.st.Send(*buf); err != nil {
		cs.st.Close()
		if nap.IsRetryable(err) {
			// Refused or GOAWAY'd before the server saw it: the balancer opens the
			// stream again (lbclient's one retry rule).
			return nil, lbclient.NotSent(callError(ctx, err))
		}
		return nil, callError(ctx, err)
	}
	if cs.stats != nil {
		cs.stats.info.RemoteAddr = cs.st.Session().RemoteAddr()
		cs.stats.out(len(*buf))
	}
	cs.onDone = onDone
	if ctx.Done() != nil {
		st := cs.st
		cs.stop = context.AfterFunc(ctx, func() {
			st.Reset(nap.CodeCancel)
			cs.release(ctxStatus(ctx)) // an abandoned stream gives its backend back too
		})
	}
	return cs, nil
}

// release tells onDone the call's outcome, once.
func (cs *clientStream) release(err error) {
	if cs.onDone != nil && cs.released.CompareAndSwap(false, true) {
		cs.onDone(err)
	}
}

func (cs *clientStream) Context() context.Context { return cs.ctx }

func (cs *clientStream) SendMsg(m any) error {
	cs.sendMu.Lock()
	defer cs.sendMu.Unlock()
	if cs.sendClosed {
		return status.Error(codes.Internal, "dora: SendMsg after CloseSend")
	}
	payload := getBuf()
	defer putBuf(payload)
	var err error
	if *payload, err = marshal(cs.codec, (*payload)[:0], m); err != nil {
		return status.Errorf(codes.Internal, "dora: encoding %s request: %v", cs.method, err)
	}
	buf := getBuf()
	defer putBuf(buf)
	*buf = appendPkg((*buf)[:0], &outHead{kind: kindMessage}, *payload)
	if err := cs.st.Send(*buf); err != nil {
		if cs.ctx.Err() != nil {
			return ctxStatus(cs.ctx)
		}
		return io.EOF // the call is over; RecvMsg tells why
	}
	cs.stats.out(len(*buf))
	return nil
}

func (cs *clientStream) CloseSend() error {
	cs.sendMu.Lock()
	defer cs.sendMu.Unlock()
	if cs.sendClosed {
		return nil
	}
	cs.sendClosed = true
	cs.st.CloseSend() // an error means the call is over: RecvMsg reports it
	return nil
}

func (cs *clientStream) Header() (metadata.MD, error) {
	cs.recvMu.Lock()
	defer cs.recvMu.Unlock()
	if !cs.headerKnown && !cs.done {
		p, buf, err := cs.recvPkg()
		if err != nil {
			return nil, err
		}
		if p != nil { // a MESSAGE: keep it for RecvMsg
			cs.pending, cs.pendingBuf = p, buf
		}
	}
	if !cs.headerKnown && cs.done && cs.finalErr != io.EOF {
		return nil, cs.finalErr
	}
	return cs.header, nil
}

func (cs *clientStream) Trailer() metadata.MD {
	cs.recvMu.Lock()
	defer cs.recvMu.Unlock()
	return cs.trailer
}

func (cs *clientStream) RecvMsg(m any) error {
	cs.recvMu.Lock()
	defer cs.recvMu.Unlock()
	p := cs.pending
	cs.pending, cs.pendingBuf = nil, nil
	if p == nil {
		if cs.done {
			return cs.finalErr
		}
		var err error
		if p, _, err = cs.recvPkg(); err != nil {
			return err
		}
		if p == nil {
			if !cs.desc.ServerStreams && !cs.gotMsg && cs.finalErr == io.EOF {
				cs.finalErr = status.Errorf(codes.Internal, "dora: %s: the server sent no response", cs.method)
			}
			return cs.finalErr
		}
	}
	if !cs.desc.ServerStreams && cs.gotMsg {
		cs.finish(status.Errorf(codes.Internal, "dora: %s: server sent more than one response", cs.method))
		return cs.finalErr
	}
	cs.gotMsg = true
	if err := cs.codec.Unmarshal(p.payload, m); err != nil {
		cs.finish(status.Errorf(codes.Internal, "dora: decoding %s response: %v", cs.method, err))
		return cs.finalErr
	}
	if !cs.desc.ServerStreams {
		// One response: the call's outcome is the trailer that follows it.
		q, _, err := cs.recvPkg()
		if err != nil {
			return err
		}
		if q != nil {
			cs.finish(status.Errorf(codes.Internal, "dora: %s: server sent more than one response", cs.method))
			return cs.finalErr
		}
		if cs.finalErr != io.EOF {
			return cs.finalErr
		}
	}
	return nil
}

// recvPkg reads Pkgs until a MESSAGE (returned with the bytes it aliases) or the end of the
// call (nil Pkg; cs.done set; the error is cs.finalErr unless it is io.EOF, which is
// returned as a nil error with a nil Pkg). The caller holds recvMu.
func (cs *clientStream) recvPkg() (*pkg, []byte, error) {
	for {
		msg, err := cs.st.Recv()
		if err != nil {
			if err == io.EOF {
				err = status.Errorf(codes.Internal, "dora: %s: stream ended without a trailer", cs.method)
			} else {
				err = callError(cs.ctx, err)
			}
			cs.finish(err)
			return nil, nil, err
		}
		cs.stats.in(len(msg))
		p := new(pkg)
		if err := decodePkg(msg, p); err != nil {
			err = status.Errorf(codes.Internal, "dora: %s: %v", cs.method, err)
			cs.finish(err)
			return nil, nil, err
		}
		switch p.kind {
		case kindHeader:
			cs.setHeader(p.userMD())
		case kindMessage:
			if !cs.headerKnown {
				cs.setHeader(p.userMD())
			}
			return p, msg, nil
		default: // TRAILER, or a unary-style answer (an error before the stream started)
			serr := metaStatus(p.meta)
			md := p.userMD()
			if !cs.headerKnown {
				cs.setHeader(md) // trailers-only
			}
			cs.trailer = md
			if serr == nil {
				serr = io.EOF
			}
			cs.finish(serr)
			if serr == io.EOF {
				return nil, nil, nil
			}
			return nil, nil, serr
		}
	}
}

// setHeader records md, the user metadata of the first header-carrying Pkg.
func (cs *clientStream) setHeader(md metadata.MD) {
	if cs.headerKnown {
		return
	}
	cs.headerKnown = true
	cs.header = md
	if cs.ci.header != nil {
		*cs.ci.header = cs.header
	}
}

// finish ends the call with err (io.EOF: success) and releases it.
func (cs *clientStream) finish(err error) {
	cs.finishOnce.Do(func() {
		cs.done = true
		cs.finalErr = err
		if cs.ci.trailer != nil {
			*cs.ci.trailer = cs.trailer
		}
		if cs.stop != nil {
			cs.stop()
		}
		cs.st.Close()
		if cs.cancel != nil {
			cs.cancel()
		}
		code := codes.OK
		if err != io.EOF {
			code = status.Code(err)
		}
		var statsErr error
		if !errors.Is(err, io.EOF) {
			statsErr = err
		}
		cs.stats.end(cs.ctx, code, statsErr)
		cs.release(statsErr)
	})
}
