package status

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/seed857a6cbd/pocket/dora/codes"
)

func TestWithDetails(t *testing.T) {
	if _, err := New(codes.OK, "").WithDetails(wrapperspb.String("x")); err == nil {
		t.Fatal("WithDetails on OK succeeded")
	}
	base := New(codes.InvalidArgument, "bad")
	one, err := base.WithDetails(wrapperspb.String("a"))
	if err != nil {
		t.Fatal(err)
	}
	two, err := one.WithDetails(wrapperspb.Int64(7))
	if err != nil {
		t.Fatal(err)
	}
	if base.Details() != nil || len(one.Details()) != 1 || len(two.Details()) != 2 {
		t.Fatalf("details: base %v, one %v, two %v (WithDetails must copy)", base.Details(), one.Details(), two.Details())
	}
	// Through an error and back, with wrapping.
	err = fmt.Errorf("lookup: %w", two.Err())
	d := Convert(err).Details()
	if s, ok := d[0].(*wrapperspb.StringValue); !ok || s.Value != "a" {
		t.Fatalf("detail 0 = %#v", d[0])
	}
	if n, ok := d[1].(*wrapperspb.Int64Value); !ok || n.Value != 7 {
		t.Fatalf("detail 1 = %#v", d[1])
	}
	if Code(err) != codes.InvalidArgument || !errors.Is(err, Error(codes.InvalidArgument, "bad")) {
		t.Fatalf("details changed code or errors.Is: %v", err)
	}
}

func TestDetailsOfUnknownType(t *testing.T) {
	st := FromAny(codes.Internal, "m", []*anypb.Any{{TypeUrl: "type.googleapis.com/no.Such", Value: []byte{1}}})
	d := st.Details()
	if len(d) != 1 {
		t.Fatalf("details %v", d)
	}
	if _, ok := d[0].(error); !ok {
		t.Fatalf("unknown type gave %#v, want an error", d[0])
	}
	if len(st.AnyDetails()) != 1 || st.AnyDetails()[0].TypeUrl != "type.googleapis.com/no.Such" {
		t.Fatalf("AnyDetails = %v", st.AnyDetails())
	}
	var nilStatus *Status
	if nilStatus.Details() != nil || nilStatus.AnyDetails() != nil {
		t.Fatal("nil status has details")
	}
}
