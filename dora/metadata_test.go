package dora_test

import (
	"context"
	"io"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"
)

// binVal is a -bin value that is not UTF-8 (NUL, 0xff, a lone continuation byte).
const binVal = "\x00\xff\x80sig"

// mdEcho answers Say with the incoming metadata as its header, a fixed trailer
// (multi-valued, binary, and a key also in the header), and, when the text is "fail", an
// error.
func mdEcho(seen chan<- metadata.MD) *echoImpl {
	return &echoImpl{onSay: func(ctx context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		if seen != nil {
			seen <- md.Copy()
		}
		hdr := md.Copy()
		if hdr == nil {
			hdr = metadata.MD{}
		}
		hdr.Set("both", "from-header")
		if err := dora.SetHeader(ctx, hdr); err != nil {
			return nil, err
		}
		trl := metadata.Pairs("x-t", "1", "x-t", "2", "t-bin", binVal, "both", "from-trailer")
		if err := dora.SetTrailer(ctx, trl); err != nil {
			return nil, err
		}
		if in.Text == "fail" {
			return nil, status.Error(codes.FailedPrecondition, "failed on purpose")
		}
		return &echo.SayResponse{Text: in.Text}, nil
	}}
}

func sameMD(t *testing.T, what string, got, want metadata.MD) {
	t.Helper()
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

// Several values per key and non-UTF-8 -bin values cross a real loopback call both ways,
// and a unary call's header and trailer arrive apart, on success and on error.
func TestUnaryMetadataRoundTrip(t *testing.T) {
	seen := make(chan metadata.MD, 1)
	ts := startServer(t, mdEcho(seen))
	c := newTestClient(t, ts.addr)
	sent := metadata.Pairs("x-tag", "a", "x-tag", "b", "x-tag", "a", "sig-bin", binVal, "x-user", "ann")
	wantTrailer := metadata.Pairs("x-t", "1", "x-t", "2", "t-bin", binVal, "both", "from-trailer")
	wantHeader := sent.Copy()
	wantHeader.Set("both", "from-header")
	for _, tc := range []struct {
		name, text string
		code       codes.Code
	}{
		{"success", "ok", codes.OK},
		{"error", "fail", codes.FailedPrecondition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr, trl metadata.MD
			_, err := echo.NewEchoClient(c).Say(metadata.NewOutgoingContext(testCtx(t), sent), &echo.SayRequest{Text: tc.text},
				dora.Header(&hdr), dora.Trailer(&trl))
			if status.Code(err) != tc.code {
				t.Fatalf("err = %v, want %v", err, tc.code)
			}
			sameMD(t, "handler's incoming metadata", <-seen, sent)
			sameMD(t, "header", hdr, wantHeader)
			sameMD(t, "trailer", trl, wantTrailer)
		})
	}
}

// Values that are not UTF-8 need a -bin key: refused before sending (client) and by
// SetHeader/SetTrailer (server).
func TestMetadataBinaryNeedsBinKey(t *testing.T) {
	ts := startServer(t, &echoImpl{onSay: func(ctx context.Context, _ *echo.SayRequest) (*echo.SayResponse, error) {
		if dora.SetHeader(ctx, metadata.Pairs("x", binVal)) == nil || dora.SetTrailer(ctx, metadata.Pairs("x", binVal)) == nil {
			return nil, status.Error(codes.Internal, "non-UTF-8 value accepted under a plain key")
		}
		return &echo.SayResponse{}, nil
	}})
	c := newTestClient(t, ts.addr)
	ec := echo.NewEchoClient(c)
	_, err := ec.Say(testCtx(t), &echo.SayRequest{}, dora.WithMetadata(metadata.Pairs("x", binVal)))
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("client sent a non-UTF-8 plain value: err = %v", err)
	}
	if _, err := ec.Say(testCtx(t), &echo.SayRequest{}); err != nil {
		t.Fatal(err)
	}
}

// Metadata over MaxMetadataSize (here 40,000 entries of a one-byte key and value, 34 bytes
// each in the count) is refused by the server with InvalidArgument, before its handler
// runs; the connection goes on serving.
func TestMetadataOverTheBound(t *testing.T) {
	var ran atomic.Bool
	ts := startServer(t, &echoImpl{onSay: func(ctx context.Context, _ *echo.SayRequest) (*echo.SayResponse, error) {
		ran.Store(true)
		return &echo.SayResponse{}, nil
	}}, dora.MaxRecvMsgSize(8<<20))
	ec := echo.NewEchoClient(newTestClient(t, ts.addr))
	vals := make([]string, dora.MaxMetadataSize/34+1)
	for i := range vals {
		vals[i] = "v"
	}
	md := metadata.MD{"k": vals}
	_, err := ec.Say(testCtx(t), &echo.SayRequest{}, dora.WithMetadata(md))
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "metadata over") {
		t.Fatalf("metadata over the bound: err = %v, want InvalidArgument naming the bound", err)
	}
	if ran.Load() {
		t.Fatal("the handler ran for a call whose metadata was refused")
	}
	if _, err := ec.Say(testCtx(t), &echo.SayRequest{}, dora.WithMetadata(metadata.Pairs("k", "v"))); err != nil {
		t.Fatal(err)
	}
}

// A client of the previous dora version (nap handshake, Head.meta only, no Head.entries) and
// a legacy client (no handshake) see exactly the Head.meta they saw before: one value per key,
// header and trailer merged with the trailer winning, and Head.entries only toward the
// former (as an unknown field it skips). A -bin value that is not UTF-8, which could not
// reach them before, comes as unpadded base64.
func TestMetadataPreviousVersionClients(t *testing.T) {
	seen := make(chan metadata.MD, 2)
	ts := startServer(t, mdEcho(seen))
	reqMeta := map[string]string{"x-user": "ann", "x-tag": "a"}
	wantMeta := func(code string) map[string]string {
		m := map[string]string{"x-user": "ann", "x-tag": "a", "x-t": "1", "t-bin": "AP+Ac2ln", "both": "from-trailer"}
		if code != "" {
			m["dora-status"] = code
			m["dora-message"] = "failed on purpose"
		}
		return m
	}
	for _, tc := range []struct{ text, code, legacyCode string }{{"ok", "", ""}, {"fail", "9", "2"}} {
		t.Run("previous/"+tc.text, func(t *testing.T) {
			payload, err := proto.Marshal(&echo.SayRequest{Text: tc.text})
			if err != nil {
				t.Fatal(err)
			}
			resp := rawGzipCall(t, ts.addr, reqMeta, payload) // a request as the previous version sent it
			sameMD(t, "handler's incoming metadata", <-seen, metadata.Pairs("x-user", "ann", "x-tag", "a"))
			if got := resp.GetHead().GetMeta(); !maps.Equal(got, wantMeta(tc.code)) {
				t.Fatalf("Head.meta = %q, want %q", got, wantMeta(tc.code))
			}
		})
		t.Run("legacy/"+tc.text, func(t *testing.T) {
			lc := dialLegacy(t, ts.addr)
			lc.send(1, legacyPkg(t, "Say", reqMeta, &echo.SayRequest{Text: tc.text}))
			_, resp := lc.recv()
			<-seen
			if got := resp.GetHead().GetMeta(); !maps.Equal(got, wantMeta(tc.legacyCode)) || len(resp.GetHead().GetEntries()) != 0 {
				t.Fatalf("Head.meta = %q (entries %v), want %q and no entries", got, resp.GetHead().GetEntries(), wantMeta(tc.legacyCode))
			}
		})
	}
}

// mdCount echoes a stream's incoming metadata as its header and sends a multi-valued,
// binary trailer.
type mdCount struct{ echoImpl }

func (mdCount) Count(in *echo.CountRequest, stream dora.ServerStreamingServer[echo.CountResponse]) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	if err := stream.SendHeader(md); err != nil {
		return err
	}
	if err := stream.Send(&echo.CountResponse{N: in.From}); err != nil {
		return err
	}
	stream.SetTrailer(metadata.Pairs("x-t", "1", "x-t", "2", "t-bin", binVal))
	return nil
}

// Streams carry several values and binary values in their open, header and trailer Pkgs.
func TestStreamMetadataRoundTrip(t *testing.T) {
	ts := startServer(t, &mdCount{})
	c := newTestClient(t, ts.addr)
	sent := metadata.Pairs("x-tag", "a", "x-tag", "b", "sig-bin", binVal)
	stream, err := echo.NewEchoClient(c).Count(metadata.NewOutgoingContext(testCtx(t), sent), &echo.CountRequest{From: 1, To: 1})
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := stream.Header()
	if err != nil {
		t.Fatal(err)
	}
	sameMD(t, "header", hdr, sent)
	for {
		if _, err := stream.Recv(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	sameMD(t, "trailer", stream.Trailer(), metadata.Pairs("x-t", "1", "x-t", "2", "t-bin", binVal))
}
