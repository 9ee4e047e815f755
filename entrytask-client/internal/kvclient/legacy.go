package kvclient

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/wirepb"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

// Legacy framing (nap PROTOCOL.md §12, dora PROTOCOL.md §8): a 10-byte header (4-byte
// length, 4-byte stream ID, type, flags) and, in one DATA frame, one wirepb.Pkg.
const (
	legacyHeaderSize = 10
	legacyFrameData  = 0
	legacyFramePing  = 1
	legacyPingAck    = 0x1
	// LegacyMaxMessage is the largest frame payload a legacy peer sends or accepts (64 KiB):
	// a longer answer ends the connection.
	LegacyMaxMessage = 64 << 10
)

// legacyReply is the answer of one call, or the error that ended the connection.
type legacyReply struct {
	pkg *wirepb.Pkg
	err error
}

// legacyClient is a Client speaking the previous version's protocol, as its clients did: no
// nap handshake, one legacy DATA frame per request carrying a Pkg with the bare method name
// (`ReadSecureMessage`) and the metadata keys `token` and `username`, answers matched by
// stream ID, every call multiplexed on one TCP connection (dialed at the first call, and
// again after it is lost). It exists so that `etclient benchmark --legacy` loads etserver's
// legacy path; it has no TLS and no balancing (Dial refuses both with Legacy). A call waits
// for its answer until its context ends or the connection fails (the legacy protocol has no
// cancellation: a late answer is dropped); the first call dials while holding the client's
// lock, for at most Options.DialTimeout.
type legacyClient struct {
	addr        string
	dialTimeout time.Duration

	mu      sync.Mutex // guards the fields below
	closed  bool
	conn    *legacyConn
	pending map[uint32]chan legacyReply // calls of conn awaiting their answer
}

// legacyConn is one connection of a legacyClient and its reader goroutine.
type legacyConn struct {
	nc   net.Conn
	wmu  sync.Mutex // serializes frame writes and stream ID assignment
	next uint32     // next stream ID (odd), under wmu
	done chan struct{}
}

var _ Client = (*legacyClient)(nil)

func dialLegacy(opts Options) (*legacyClient, error) {
	if len(opts.Endpoints) > 1 || opts.TLS != nil || opts.Stats != nil {
		return nil, fmt.Errorf("%w: legacy frames need one endpoint, no TLS and no tracing", ErrBadEndpoint)
	}
	addr := DefaultServer
	if len(opts.Endpoints) == 1 {
		addr = opts.Endpoints[0].Addr
	}
	d := opts.DialTimeout
	if d <= 0 {
		d = legacyDialTimeout
	}
	return &legacyClient{addr: addr, dialTimeout: d, pending: make(map[uint32]chan legacyReply)}, nil
}

// legacyDialTimeout bounds a legacy dial when Options.DialTimeout is 0 (10 s, dora's default).
const legacyDialTimeout = 10 * time.Second

func (c *legacyClient) Login(ctx context.Context, user, pass string) (string, error) {
	rsp := new(kvpb.LoginRsp)
	if err := c.call(ctx, "Login", nil, &kvpb.LoginReq{Username: user, Password: pass}, rsp); err != nil {
		return "", err
	}
	return loginToken(rsp)
}

func (c *legacyClient) Read(ctx context.Context, token, user, key string) (string, error) {
	rsp := new(kvpb.ReadSecureMessageRsp)
	if err := c.call(ctx, "ReadSecureMessage", legacyMeta(token, user), &kvpb.ReadSecureMessageReq{Key: []byte(key)}, rsp); err != nil {
		return "", err
	}
	if err := appError(rsp.GetStatus()); err != nil {
		return "", err
	}
	return string(rsp.GetValue()), nil
}

func (c *legacyClient) Write(ctx context.Context, token, user, key, value string) error {
	rsp := new(kvpb.WriteSecureMessageRsp)
	return c.call(ctx, "WriteSecureMessage", legacyMeta(token, user), &kvpb.WriteSecureMessageReq{Key: []byte(key), Value: []byte(value)}, rsp)
}

// Close closes the connection: calls in flight and later ones fail with
// Code(codes.Unavailable). Close is idempotent.
func (c *legacyClient) Close() error {
	c.mu.Lock()
	c.closed = true
	lc := c.conn
	c.mu.Unlock()
	if lc != nil {
		lc.nc.Close()
		<-lc.done
	}
	return nil
}

// legacyMeta is the session metadata a legacy client sends (each key only when non-empty).
func legacyMeta(token, user string) map[string]string {
	m := make(map[string]string, 2)
	if token != "" {
		m[kvpb.MDToken] = token
	}
	if user != "" {
		m[kvpb.MDUsername] = user
	}
	return m
}

// call sends one request as a legacy frame and decodes the answer into rsp.
func (c *legacyClient) call(ctx context.Context, method string, meta map[string]string, req, rsp proto.Message) error {
	payload, err := proto.Marshal(req)
	if err != nil {
		return Errorf(Code(codes.Internal), "marshal request: %v", err)
	}
	lc, err := c.connect(ctx)
	if err != nil {
		return err
	}
	ch := make(chan legacyReply, 1)
	id, err := c.send(ctx, lc, method, meta, payload, ch)
	if err != nil {
		return err
	}
	var r legacyReply
	select {
	case r = <-ch:
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, id) // the answer, if it comes, is dropped by the reader
		c.mu.Unlock()
		return ctx.Err()
	}
	if r.err != nil {
		return r.err
	}
	if err := legacyStatus(r.pkg.GetHead().GetMeta()); err != nil {
		return err
	}
	if err := proto.Unmarshal(r.pkg.GetPayload(), rsp); err != nil {
		return Errorf(Code(codes.Internal), "unmarshal answer: %v", err)
	}
	return nil
}

// send registers ch for the next stream ID of lc and writes the request frame.
func (c *legacyClient) send(ctx context.Context, lc *legacyConn, method string, meta map[string]string, payload []byte, ch chan legacyReply) (uint32, error) {
	lc.wmu.Lock()
	defer lc.wmu.Unlock()
	id := lc.next
	lc.next += 2
	pkg, err := proto.Marshal(&wirepb.Pkg{Head: &wirepb.Head{Seq: uint64(id), Method: method, Meta: meta}, Payload: payload})
	if err != nil {
		return 0, Errorf(Code(codes.Internal), "marshal request: %v", err)
	}
	if len(pkg) > LegacyMaxMessage {
		return 0, Errorf(Code(codes.ResourceExhausted), "request of %d bytes, legacy limit %d", len(pkg), LegacyMaxMessage)
	}
	c.mu.Lock()
	if c.conn != lc {
		c.mu.Unlock()
		return 0, errLegacyLost
	}
	c.pending[id] = ch
	c.mu.Unlock()
	frame := make([]byte, legacyHeaderSize, legacyHeaderSize+len(pkg))
	binary.BigEndian.PutUint32(frame[0:4], uint32(len(pkg)))
	binary.BigEndian.PutUint32(frame[4:8], id)
	frame = append(frame, pkg...)
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(legacyWriteTimeout)
	}
	lc.nc.SetWriteDeadline(deadline)
	if _, err := lc.nc.Write(frame); err != nil {
		lc.nc.Close() // the reader fails every pending call
		return 0, Errorf(Code(codes.Unavailable), "write: %v", err)
	}
	return id, nil
}

// legacyWriteTimeout bounds writing one request when the call's context has no deadline.
const legacyWriteTimeout = 10 * time.Second

var errLegacyLost = Errorf(Code(codes.Unavailable), "connection lost")

// connect returns the open connection, dialing one when there is none.
func (c *legacyClient) connect(ctx context.Context) (*legacyConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errClosed
	}
	if c.conn != nil {
		return c.conn, nil
	}
	dctx, cancel := context.WithTimeout(ctx, c.dialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", c.addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, Errorf(Code(codes.Unavailable), "dial %s: %v", c.addr, err)
	}
	lc := &legacyConn{nc: nc, next: 1, done: make(chan struct{})}
	c.conn = lc
	go c.readLoop(lc)
	return lc, nil
}

// readLoop hands every answer on lc to its call and answers PINGs; when lc fails it fails
// the calls still pending and forgets lc, so that the next call dials again.
func (c *legacyClient) readLoop(lc *legacyConn) {
	defer close(lc.done)
	err := c.read(lc)
	lc.nc.Close()
	c.mu.Lock()
	if c.conn == lc {
		c.conn = nil
	}
	pending := c.pending
	c.pending = make(map[uint32]chan legacyReply)
	closed := c.closed
	c.mu.Unlock()
	fail := Errorf(Code(codes.Unavailable), "connection lost: %v", err)
	if closed {
		fail = errClosed
	}
	for _, ch := range pending {
		ch <- legacyReply{err: fail}
	}
}

func (c *legacyClient) read(lc *legacyConn) error {
	br := bufio.NewReader(lc.nc)
	var hdr [legacyHeaderSize]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(hdr[0:4])
		id := binary.BigEndian.Uint32(hdr[4:8])
		typ, flags := hdr[8], hdr[9]
		if n > LegacyMaxMessage {
			return fmt.Errorf("frame of %d bytes, legacy limit %d", n, LegacyMaxMessage)
		}
		switch {
		case typ == legacyFramePing && n == 0:
			if flags&legacyPingAck == 0 {
				lc.wmu.Lock()
				lc.nc.SetWriteDeadline(time.Now().Add(legacyWriteTimeout))
				_, err := lc.nc.Write([]byte{0, 0, 0, 0, 0, 0, 0, 0, legacyFramePing, legacyPingAck})
				lc.wmu.Unlock()
				if err != nil {
					return err
				}
			}
			continue
		case typ != legacyFrameData || flags != 0:
			return fmt.Errorf("frame type %d flags 0x%x, not legacy", typ, flags)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			return err
		}
		pkg := new(wirepb.Pkg)
		if err := proto.Unmarshal(body, pkg); err != nil {
			return fmt.Errorf("answer on stream %d: %w", id, err)
		}
		c.mu.Lock()
		ch, ok := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if ok {
			ch <- legacyReply{pkg: pkg}
		}
	}
}

// legacyStatus is the *Error of an answer's dora-status (legacy numbering) and
// dora-message, nil for OK.
func legacyStatus(meta map[string]string) error {
	s, ok := meta[dora.MetaStatus]
	if !ok || s == "" || s == "0" {
		return nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return Errorf(Code(codes.Internal), "bad %s %q", dora.MetaStatus, s)
	}
	return &Error{Code: Code(codes.FromLegacy(codes.LegacyCode(n))), Message: meta[dora.MetaMessage]}
}
