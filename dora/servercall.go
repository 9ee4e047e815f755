package dora

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/seed857a6cbd/pocket/dora/codec"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/nap"
)

// serverCall is the server side of one call. It is also the handler's context.
//
// The cancellation part of that context is the nap stream's context (cancelled by a reset
// from the client, the death of the session, or the end of the call, which closes the
// stream) plus the call's deadline. It is built when the call starts, or, with
// LazyCallContext, on the first Done, Err or AfterFunc (handlers that never look at it
// then cost no context allocations). Deadline answers without it; Value looks at the call's own keys and then
// at values (incoming metadata, what a StatsHandler added). Deriving a child context
// (WithCancel, WithTimeout...) works without a goroutine through the AfterFunc method.
type serverCall struct {
	values      context.Context
	deadline    time.Time
	hasDeadline bool
	ctxOnce     sync.Once
	full        context.Context
	built       atomic.Bool // full is set
	cancelFull  context.CancelFunc

	srv     *Server
	conn    *connState
	sess    *nap.Session
	st      *nap.Stream
	entry   *methodEntry
	method  string // resolved full name, or the raw one when unknown
	legacy  bool
	codec   codec.Codec
	seq     uint64
	payload []byte
	stats   *callStats
	// encoding is the request payload's dora-encoding ("" plain); acceptGzip is set when
	// the client accepts a gzip response (dora-accept-encoding).
	encoding   string
	acceptGzip bool

	mdMu       sync.Mutex // guards header, trailer, headerSent: handlers may use several goroutines
	header     metadata.MD
	trailer    metadata.MD
	headerSent bool
	stream     *serverStream // streaming calls only
}

type callKey struct{}

// endedCtx is the context of calls that ended before anything asked for their context.
var endedCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// ctx returns the cancellation context of the call, building it on first use.
func (c *serverCall) ctx() context.Context {
	c.ctxOnce.Do(c.buildCtx)
	return c.full
}

func (c *serverCall) buildCtx() {
	// The stream's context is done when the client resets the stream, the session dies or
	// the call is over (handleStream closes the stream).
	c.full = c.st.Context()
	if c.hasDeadline {
		c.full, c.cancelFull = context.WithDeadline(c.full, c.deadline)
	}
	c.built.Store(true)
}

// endCtx cancels the call's context when the call is over.
func (c *serverCall) endCtx() {
	c.ctxOnce.Do(func() {
		c.full = endedCtx
		c.built.Store(true)
	})
	if c.cancelFull != nil {
		c.cancelFull()
	}
}

// Deadline returns the deadline the client sent, if any.
func (c *serverCall) Deadline() (time.Time, bool) { return c.deadline, c.hasDeadline }

// Done is closed when the client cancels, the deadline passes, the session dies or the
// call is over.
func (c *serverCall) Done() <-chan struct{} { return c.ctx().Done() }

// Err tells why Done is closed.
func (c *serverCall) Err() error { return c.ctx().Err() }

// AfterFunc lets context.WithCancel and friends derive from the call without a goroutine.
func (c *serverCall) AfterFunc(f func()) func() bool { return context.AfterFunc(c.ctx(), f) }

// Value answers callKey with the call itself; other keys go to the values context.
func (c *serverCall) Value(key any) any {
	switch key {
	case callKey{}:
		return c
	case streamKey{}:
		if c.stream != nil {
			return c.stream
		}
		return nil
	}
	if v := c.values.Value(key); v != nil {
		return v
	}
	if c.built.Load() {
		// The cancellation context answers for itself (context.Cause finds nap's cause).
		return c.full.Value(key)
	}
	return nil
}

func callFromContext(ctx context.Context) *serverCall {
	c, _ := ctx.Value(callKey{}).(*serverCall)
	return c
}

// unaryDecoder is the dec function given to unary method handlers. Decoders are pooled
// with their bound function, which saves an allocation per call; dec is valid until the
// handler returns.
type unaryDecoder struct {
	codec   codec.Codec
	payload []byte
	method  string
	alias   bool // AliasRequests: the payload stays valid until the call is over
	fn      func(any) error
}

var decoderPool = sync.Pool{New: func() any {
	d := new(unaryDecoder)
	d.fn = d.decode
	return d
}}

func (d *unaryDecoder) decode(v any) error {
	if d.codec == nil {
		return status.Error(codes.Internal, "dora: request decoder used after its handler returned")
	}
	if _, err := unmarshalAlias(d.codec, d.payload, v, d.alias); err != nil {
		return status.Errorf(codes.InvalidArgument, "dora: decoding %s request: %v", d.method, err)
	}
	return nil
}

// handleStream serves one nap stream: one call.
func (s *Server) handleStream(cs *connState, st *nap.Stream) {
	sess := cs.sess
	defer s.callWG.Done()
	defer s.endCall()
	defer st.Close()
	slot := s.waitRequestBegin(cs) // bounded by RequestTimeout (request.go)
	msg, err := st.Recv()
	waitRequestEnd(cs, slot)
	if err != nil {
		return // reset or session gone before the request arrived: nobody to answer
	}
	// Once the call is over nothing refers to the request (codecs copy what they
	// decode; under AliasRequests the request's large fields refer to msg until the
	// handler returned and its response was sent, which is before this runs): its
	// memory can take the session's next large message.
	defer st.Release(msg)
	c := &serverCall{values: context.Background(), srv: s, conn: cs, sess: sess, st: st, legacy: sess.Legacy()}
	defer c.endCtx()
	var p pkg
	if err := decodePkg(msg, &p); err != nil {
		c.method = "?"
		c.codec = protoCodec
		c.reject(status.Error(codes.InvalidArgument, err.Error()))
		return
	}
	c.seq = p.seq
	if p.timeoutUs > 0 && p.timeoutUs <= maxTimeoutUs {
		c.deadline = time.Now().Add(time.Duration(p.timeoutUs) * time.Microsecond)
		c.hasDeadline = true
	}
	if !s.opts.lazyCallContext {
		c.ctxOnce.Do(c.buildCtx)
	}
	c.entry = s.lookup(p.method)
	if c.entry != nil {
		c.method = c.entry.full
	} else {
		c.method = string(p.method)
	}
	// The codec: legacy peers speak proto only.
	switch {
	case c.legacy || len(p.serializeType) == 0 || string(p.serializeType) == codec.NameProto:
		c.codec = protoCodec
	default:
		c.codec = codec.Get(string(p.serializeType))
	}
	streaming := c.entry != nil && c.entry.stream != nil
	// Compression (PROTOCOL.md §11): read before the reserved keys go. Legacy peers know none.
	if !c.legacy && p.meta != nil {
		c.encoding = p.meta.Get(MetaEncoding)
		c.acceptGzip = acceptsGzip(p.meta.Get(MetaAcceptEncoding))
	}
	// Metadata: the client's keys minus the reserved ones, attached before the stats
	// handlers run so that they can read it (a tracer extracts its trace context).
	// With Head.entries (PROTOCOL.md §2) they are the whole metadata; a client marks none
	// as trailer, and any that is counts as metadata all the same.
	if md := p.userMD(); md != nil {
		c.values = metadata.NewIncomingContext(c.values, md)
	}
	if len(s.opts.stats) > 0 {
		info := CallInfo{FullMethod: c.method, Legacy: c.legacy, RemoteAddr: sess.RemoteAddr(), Unknown: c.entry == nil}
		if streaming {
			info.ClientStream, info.ServerStream = c.entry.stream.ClientStreams, c.entry.stream.ServerStreams
		}
		c.values, c.stats = beginStats(c.values, s.opts.stats, info)
		c.stats.in(len(msg))
	}
	if c.codec == nil {
		c.codec = protoCodec
		_, err := codec.Lookup(string(p.serializeType))
		c.reject(status.Errorf(codes.Unimplemented, "dora: %v", err))
		return
	}
	if c.entry == nil {
		if e, known := s.bare[string(p.method)]; known && e == nil {
			c.reject(status.Errorf(codes.Unimplemented, "dora: method %q is ambiguous: several services have it; call it by its full name", p.method))
		} else {
			c.reject(status.Errorf(codes.Unimplemented, "dora: unknown method %q", p.method))
		}
		return
	}
	wantOpen := streaming
	if isOpen := p.kind == kindOpen; isOpen != wantOpen {
		if wantOpen {
			c.reject(status.Errorf(codes.Unimplemented, "dora: %s is a streaming method; it cannot be called as unary", c.method))
		} else {
			c.reject(status.Errorf(codes.Unimplemented, "dora: %s is a unary method; it cannot be called as a stream", c.method))
		}
		return
	}
	if streaming {
		s.runStream(c)
		return
	}
	// A unary request is one message then the client's half-close (normally in the same
	// frame, so this returns at once). Waiting for it means closing the stream after the
	// answer never resets it, which would make nap drop the answer.
	if _, err := st.Recv(); err != io.EOF {
		if err == nil {
			c.reject(status.Errorf(codes.InvalidArgument, "dora: %s is unary but the client sent more than one message", c.method))
		}
		return
	}
	c.payload = p.payload
	if c.encoding != "" && len(c.payload) > 0 {
		if c.encoding != Gzip {
			c.reject(status.Errorf(codes.Unimplemented, "dora: request compressed with %q; this server has %q", c.encoding, Gzip))
			return
		}
		data, err := gunzip(c.payload, msgLimit(s.opts.nap))
		if errors.Is(err, ErrDecompressedTooLarge) {
			c.reject(status.Wrap(codes.ResourceExhausted, err))
			return
		} else if err != nil {
			c.reject(status.Error(codes.InvalidArgument, err.Error()))
			return
		}
		c.payload = data
	}
	resp, err := s.runUnary(c)
	c.finishUnary(resp, err)
}

// reject answers a call that cannot run with err, then waits for the client's side to end
// (see drainStream).
func (c *serverCall) reject(err error) {
	c.finishUnary(nil, err)
	drainStream(c.st)
}

// maxTimeoutUs is the longest timeout honoured, ten years; a longer one means no deadline
// (and keeps time arithmetic far from overflow).
const maxTimeoutUs = uint64(10 * 365 * 24 * time.Hour / time.Microsecond)

func (s *Server) runUnary(c *serverCall) (resp any, err error) {
	d := decoderPool.Get().(*unaryDecoder)
	d.codec, d.payload, d.method, d.alias = c.codec, c.payload, c.method, s.opts.aliasRequests
	defer func() {
		d.codec, d.payload, d.method, d.alias = nil, nil, "", false
		decoderPool.Put(d)
		if r := recover(); r != nil {
			err = s.panicked(c, r)
		}
	}()
	return c.entry.unary.Handler(c.entry.impl, c, d.fn, s.unaryInt)
}

func (s *Server) panicked(c *serverCall, r any) error {
	s.logger.Error("dora: handler panicked", slog.String("method", c.method),
		slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
	return status.Errorf(codes.Internal, "dora: handler of %s panicked", c.method)
}

// errStatus returns the code and message sent for a handler's error.
func errStatus(err error) (codes.Code, string) {
	if err == nil {
		return codes.OK, ""
	}
	st, ok := status.FromError(err)
	if !ok {
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			return codes.DeadlineExceeded, err.Error()
		case errors.Is(err, context.Canceled):
			return codes.Canceled, err.Error()
		}
	}
	return st.Code(), st.Message()
}

// compressThreshold is the response size from which the server compresses for clients
// that accept it.
func (s *Server) compressThreshold() int {
	if s.opts.compressThreshold > 0 {
		return s.opts.compressThreshold
	}
	return DefaultCompressionThreshold
}

// errDetails is the dora-details-bin value for a handler's error: its status details, ""
// when it has none or the peer is legacy (legacy clients know no details).
func (c *serverCall) errDetails(err error) string {
	if c.legacy || err == nil {
		return ""
	}
	st, _ := status.FromError(err)
	d, derr := encodeDetails(st.AnyDetails())
	if derr != nil {
		c.srv.logger.Warn("dora: status details dropped", "method", c.method, "err", derr)
		return ""
	}
	return d
}

// wireCode is the number sent in dora-status for code c toward this peer.
func (c *serverCall) wireCode(code codes.Code) uint32 {
	if c.legacy {
		return uint32(codes.ToLegacy(code))
	}
	return uint32(code)
}

// finishUnary sends the unary response for (resp, err) and closes the call. The response
// is reserved against the reply budgets while it is being sent (budget.go): before it is
// encoded when its size is known in advance (proto messages), so that a response waiting
// for budget holds no encoding; otherwise once encoded, and the encoding is dropped while
// it waits.
func (c *serverCall) finishUnary(resp any, err error) {
	var payload, buf *[]byte
	var body []byte // what follows buf: payload, or resp's memory (encodeUnary)
	var h outHead
	var code codes.Code
	reserved := false
	n := 0
	if err == nil {
		n = sizeHint(c.codec, resp)
	}
	if n == 0 { // size unknown: encode first
		payload, buf = getBuf(), getBuf()
		h, code, _, body = c.encodeUnary(resp, err, payload, buf)
		n = len(*buf) + len(body)
		if c.tryTakeReply(n) {
			reserved = true
		} else {
			putBuf(payload) // wait without holding the encoding
			putBuf(buf)
			payload, buf, body = nil, nil, nil
		}
	} else {
		reserved = c.tryTakeReply(n)
	}
	if !reserved {
		if werr := c.srv.waitReply(c, int64(n)); werr != nil {
			resp, err = nil, werr // a status-only answer, not counted
			c.srv.noteStuck(c.conn, werr)
		} else {
			reserved = true
		}
	}
	if buf == nil {
		payload, buf = getBuf(), getBuf()
		h, code, _, body = c.encodeUnary(resp, err, payload, buf)
		if reserved { // the estimate or the encoding's size may differ
			c.resizeReply(n, len(*buf)+len(body))
			n = len(*buf) + len(body)
		}
	}
	// The envelope in buf, the payload after it without a copy (encodeUnary).
	sendErr := c.st.SendAndCloseV(*buf, body)
	sent := len(*buf) + len(body)
	putBuf(payload)
	if sendErr != nil && errors.Is(sendErr, nap.ErrMessageTooLarge) && code == codes.OK {
		// The response is over the client's (or legacy) limit: tell the client why.
		code = codes.ResourceExhausted
		h.status, h.message = c.wireCode(code), fmt.Sprintf("dora: %s response of %d bytes exceeds the peer's message limit", c.method, sent)
		*buf = appendPkg((*buf)[:0], &h, nil)
		sendErr = c.st.SendAndClose(*buf)
		sent = len(*buf)
	}
	if reserved {
		c.giveReply(n, sendErr == nil)
	}
	if sendErr != nil {
		c.srv.noteStuck(c.conn, sendErr)
	}
	c.stats.out(sent)
	putBuf(buf)
	if sendErr != nil && code == codes.OK {
		code = codes.Unavailable
		err = sendErr
	}
	c.stats.end(c, code, err)
}

// sizeHint returns the size of the Pkg that will carry v encoded with cdc, when it can be
// known without encoding (proto messages; the head is estimated and corrected once
// encoded), or 0.
func sizeHint(cdc codec.Codec, v any) int {
	if cdc != protoCodec {
		return 0
	}
	m, ok := v.(proto.Message)
	if !ok {
		return 0
	}
	n := proto.Size(m)
	return 1 + protowire.SizeVarint(uint64(n)) + n + headSizeHint
}

// headSizeHint is the head size assumed by sizeHint before the head is encoded.
const headSizeHint = 64

// tryTakeReply is takeReply's fast path: it reserves n bytes when they fit at once.
func (c *serverCall) tryTakeReply(n int) bool {
	ok, _ := c.takeReply(int64(n))
	return ok
}

// takeReply reserves n bytes in the connection's and the server's budgets when both have
// room; serverFull reports that only the server's budget refused.
func (c *serverCall) takeReply(n int64) (ok, serverFull bool) {
	if !c.conn.replies.tryTake(n) {
		return false, false
	}
	if c.srv.replies.takeSmall(n) || c.srv.replies.tryTake(n) {
		return true, false
	}
	c.conn.replies.used.Add(-n) // no wake-up needed: waiters also watch the server
	return false, true
}

// encodeUnary encodes the unary answer for (resp, err): its envelope into buf, its
// payload into payload; it returns the head, code and message, and body, what is sent
// after buf (SendAndCloseV): payload, or the large bytes field of resp that marshalSplit
// left out of payload (SendInPlace), which then follows the envelope in buf.
func (c *serverCall) encodeUnary(resp any, err error, payload, buf *[]byte) (h outHead, code codes.Code, msg string, body []byte) {
	code, msg = errStatus(err)
	*payload = (*payload)[:0]
	var tail []byte // a large bytes field of resp, sent from resp's memory (SendInPlace)
	if err == nil && resp != nil {
		var merr error
		*payload, tail, merr = marshalSplit(c.codec, *payload, resp, c.srv.opts.sendInPlace)
		if merr != nil {
			code, msg = codes.Internal, fmt.Sprintf("dora: encoding %s response: %v", c.method, merr)
			*payload, tail = (*payload)[:0], nil
		}
	}
	h = outHead{serializeType: c.codec.Name(), seq: c.seq, status: c.wireCode(code), message: msg, legacy: c.legacy}
	// Header and trailer: merged in Head.meta as ever, apart in Head.entries (PROTOCOL.md §2).
	c.mdMu.Lock()
	h.meta, h.trailerMeta = c.header, c.trailer
	c.mdMu.Unlock()
	h.entries = len(h.meta)+len(h.trailerMeta) > 0
	if code != codes.OK {
		h.details = c.errDetails(err)
	}
	if c.acceptGzip && len(*payload)+len(tail) >= c.srv.compressThreshold() {
		*payload, tail = append(*payload, tail...), nil // compressed in one piece
		z := getBuf()
		var zerr error
		if *z, zerr = gzipAppend((*z)[:0], *payload); zerr == nil {
			*payload, *z = *z, *payload // the compressed bytes become the payload; z goes back
			h.encoding = Gzip
		}
		putBuf(z)
	}
	if c.legacy {
		h.serializeType = ""
	}
	*buf, body = appendPkgHeadSplit((*buf)[:0], &h, *payload, tail) // the payload follows it (SendV)
	return h, code, msg, body
}

// setHeader adds md to the header unless it was sent.
func (c *serverCall) setHeader(md metadata.MD) error {
	if err := checkUserMD(md); err != nil {
		return err
	}
	c.mdMu.Lock()
	defer c.mdMu.Unlock()
	if c.headerSent {
		return errors.New("dora: SetHeader: header already sent")
	}
	c.header = joinMD(c.header, md)
	return nil
}

// takeHeader marks the header sent and returns it, with first false when it was sent before.
func (c *serverCall) takeHeader() (md metadata.MD, first bool) {
	c.mdMu.Lock()
	defer c.mdMu.Unlock()
	if c.headerSent {
		return nil, false
	}
	c.headerSent = true
	return c.header, true
}

// addTrailer adds md to the trailer.
func (c *serverCall) addTrailer(md metadata.MD) error {
	if err := checkUserMD(md); err != nil {
		return err
	}
	c.mdMu.Lock()
	c.trailer = joinMD(c.trailer, md)
	c.mdMu.Unlock()
	return nil
}

// responseMeta merges header and trailer metadata for a one-Pkg response.
func (c *serverCall) responseMeta() metadata.MD {
	c.mdMu.Lock()
	defer c.mdMu.Unlock()
	switch {
	case len(c.trailer) == 0:
		return c.header
	case len(c.header) == 0:
		return c.trailer
	}
	return metadata.Join(c.header, c.trailer)
}

// SetHeader adds md to the response header metadata of the call ctx belongs to (a
// handler's context); a key set again gets the new values. For unary calls header and
// trailer travel in the one response, apart (a previous-version client sees them merged,
// the trailer's value winning for a key in both); for streams the header goes with the
// first message or SendHeader. It returns an error
// outside a server call, after the header was sent, or for a reserved "dora-" key.
func SetHeader(ctx context.Context, md metadata.MD) error {
	c := callFromContext(ctx)
	if c == nil {
		return errors.New("dora: SetHeader: not in a server call's context")
	}
	return c.setHeader(md)
}

// SendHeader adds md to the header and, for streaming calls, sends it now; for unary calls
// it only fixes the header (it travels with the response). Only once per call.
func SendHeader(ctx context.Context, md metadata.MD) error {
	c := callFromContext(ctx)
	if c == nil {
		return errors.New("dora: SendHeader: not in a server call's context")
	}
	if ss, ok := ctx.Value(streamKey{}).(*serverStream); ok && ss.call == c {
		return ss.SendHeader(md)
	}
	if err := c.setHeader(md); err != nil {
		return err
	}
	c.takeHeader()
	return nil
}

// SetTrailer adds md to the trailer metadata, sent with the call's status, also when the
// handler fails (a key set again gets the new values). It returns an error outside a server
// call, for a reserved "dora-" key, or for a value that is not UTF-8 under a key not ending
// in "-bin".
func SetTrailer(ctx context.Context, md metadata.MD) error {
	c := callFromContext(ctx)
	if c == nil {
		return errors.New("dora: SetTrailer: not in a server call's context")
	}
	return c.addTrailer(md)
}

// Method returns the full method name of the server call ctx belongs to.
func Method(ctx context.Context) (string, bool) {
	c := callFromContext(ctx)
	if c == nil {
		return "", false
	}
	return c.method, true
}

// Peer returns the remote address of the server call ctx belongs to.
func Peer(ctx context.Context) (net.Addr, bool) {
	c := callFromContext(ctx)
	if c == nil {
		return nil, false
	}
	return c.sess.RemoteAddr(), true
}

// IsLegacy reports whether the server call ctx belongs to comes from a legacy peer (bare
// method name, legacy status codes; its metadata keys are its own, e.g. "username" and
// "token").
func IsLegacy(ctx context.Context) bool {
	c := callFromContext(ctx)
	return c != nil && c.legacy
}
