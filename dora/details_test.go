package dora_test

import (
	"context"
	"encoding/base64"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"
)

// detailedErr is an error with two details: a StringValue and a Duration.
func detailedErr(t *testing.T, c codes.Code) error {
	t.Helper()
	st, err := status.New(c, "with details").WithDetails(wrapperspb.String("field text is bad"), durationpb.New(1500e6))
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

// checkDetails fails unless err is code c with detailedErr's details.
func checkDetails(t *testing.T, err error, c codes.Code) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != c || st.Message() != "with details" {
		t.Fatalf("err = %v, want %v with details", err, c)
	}
	d := st.Details()
	if len(d) != 2 {
		t.Fatalf("%d details, want 2: %v", len(d), d)
	}
	if s, ok := d[0].(*wrapperspb.StringValue); !ok || s.Value != "field text is bad" {
		t.Fatalf("detail 0 = %#v", d[0])
	}
	if du, ok := d[1].(*durationpb.Duration); !ok || du.AsDuration() != 1500e6 {
		t.Fatalf("detail 1 = %#v", d[1])
	}
}

type detailsEcho struct {
	echoImpl
	err error
}

func (d *detailsEcho) Count(*echo.CountRequest, dora.ServerStreamingServer[echo.CountResponse]) error {
	return d.err
}

func TestStatusDetails(t *testing.T) {
	impl := &detailsEcho{}
	impl.err = detailedErr(t, codes.FailedPrecondition)
	impl.onSay = func(_ context.Context, in *echo.SayRequest) (*echo.SayResponse, error) {
		if in.Text == "plain" {
			return nil, status.Error(codes.NotFound, "plain")
		}
		return nil, impl.err
	}
	ts := startServer(t, impl)
	ec := echo.NewEchoClient(newTestClient(t, ts.addr))

	t.Run("unary", func(t *testing.T) {
		_, err := ec.Say(testCtx(t), &echo.SayRequest{})
		checkDetails(t, err, codes.FailedPrecondition)
	})
	t.Run("stream trailer", func(t *testing.T) {
		st, err := ec.Count(testCtx(t), &echo.CountRequest{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = st.Recv()
		checkDetails(t, err, codes.FailedPrecondition)
	})
	t.Run("no details", func(t *testing.T) {
		_, err := ec.Say(testCtx(t), &echo.SayRequest{Text: "plain"})
		if status.Code(err) != codes.NotFound || status.Convert(err).Details() != nil {
			t.Fatalf("err = %v, details %v", err, status.Convert(err).Details())
		}
	})
}

// A legacy client never sees the details key: its response meta is what it always was.
func TestStatusDetailsNotSentToLegacy(t *testing.T) {
	impl := &echoImpl{onSay: func(context.Context, *echo.SayRequest) (*echo.SayResponse, error) {
		return nil, detailedErr(t, codes.NotFound)
	}}
	ts := startServer(t, impl)
	lc := dialLegacy(t, ts.addr)
	lc.send(1, legacyPkg(t, "Say", nil, &echo.SayRequest{}))
	_, p := lc.recv()
	meta := p.GetHead().GetMeta()
	if _, ok := meta[dora.MetaDetails]; ok || meta["dora-message"] != "with details" || len(meta) != 2 {
		t.Fatalf("legacy meta = %v, want dora-status and dora-message only", meta)
	}
}

func TestStatusDetailsDecoding(t *testing.T) {
	a, err := anypb.New(wrapperspb.String("x"))
	if err != nil {
		t.Fatal(err)
	}
	one, _ := proto.Marshal(a)
	frame := append([]byte{1<<3 | 2, byte(len(one))}, one...)
	unknown := append([]byte{2 << 3, 7}, frame...) // field 2 (varint type 0) is skipped
	for _, tc := range []struct {
		name    string
		value   string
		code    codes.Code
		details int
	}{
		{"unpadded", base64.RawStdEncoding.EncodeToString(frame), codes.Aborted, 1},
		{"padded", base64.StdEncoding.EncodeToString(append(frame, frame...)), codes.Aborted, 2},
		{"unknown field skipped", base64.RawStdEncoding.EncodeToString(unknown), codes.Aborted, 1},
		{"not base64", "!!!", codes.Internal, 0},
		{"truncated", base64.RawStdEncoding.EncodeToString(frame[:len(frame)-1]), codes.Internal, 0},
		{"not an Any", base64.RawStdEncoding.EncodeToString([]byte{1<<3 | 2, 2, 0xff, 0xff}), codes.Internal, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := dora.MetaStatus_(metadata.Pairs(dora.MetaStatus, "10", dora.MetaMessage, "m", dora.MetaDetails, tc.value))
			if status.Code(err) != tc.code || len(status.Convert(err).AnyDetails()) != tc.details {
				t.Fatalf("err = %v with %d details, want %v with %d", err, len(status.Convert(err).AnyDetails()), tc.code, tc.details)
			}
		})
	}
}
