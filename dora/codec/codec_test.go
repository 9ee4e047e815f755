package codec

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		name    string
		want    string
		wantErr bool
	}{
		{"", NameProto, false},
		{"proto", NameProto, false},
		{"json", NameJSON, false},
		{"raw", NameRaw, false},
		{"xml", "", true},
	}
	for _, tt := range tests {
		t.Run("name="+tt.name, func(t *testing.T) {
			c, err := Lookup(tt.name)
			if tt.wantErr {
				if !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), `"xml"`) {
					t.Fatalf("Lookup err = %v", err)
				}
				return
			}
			if err != nil || c.Name() != tt.want {
				t.Fatalf("Lookup = %v, %v", c, err)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		codec Codec
	}{{Proto{}}, {JSON{}}}
	for _, tt := range tests {
		t.Run(tt.codec.Name(), func(t *testing.T) {
			in := wrapperspb.String("hello")
			b, err := tt.codec.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			out := wrapperspb.String("stale")
			if err := tt.codec.Unmarshal(b, out); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(in, out) {
				t.Fatalf("got %v, want %v", out, in)
			}
			if _, err := tt.codec.Marshal("not a message"); !errors.Is(err, ErrType) {
				t.Fatalf("Marshal(string) err = %v", err)
			}
			if err := tt.codec.Unmarshal(b, new(int)); !errors.Is(err, ErrType) {
				t.Fatalf("Unmarshal(*int) err = %v", err)
			}
			ap := tt.codec.(AppendMarshaler)
			b2, err := ap.MarshalAppend([]byte("x"), in)
			if err != nil || !bytes.Equal(b2[1:], b) {
				t.Fatalf("MarshalAppend = %q, %v", b2, err)
			}
		})
	}
}

func TestRaw(t *testing.T) {
	b, err := Raw{}.Marshal([]byte("abc"))
	if err != nil || string(b) != "abc" {
		t.Fatalf("Marshal = %q %v", b, err)
	}
	var out []byte
	if err := (Raw{}).Unmarshal(b, &out); err != nil || string(out) != "abc" {
		t.Fatalf("Unmarshal = %q %v", out, err)
	}
	if err := (Raw{}).Unmarshal(b, out); !errors.Is(err, ErrType) {
		t.Fatalf("Unmarshal([]byte) err = %v", err)
	}
}

func TestBadInput(t *testing.T) {
	if err := (Proto{}).Unmarshal([]byte{0xff, 0xff}, wrapperspb.String("")); err == nil {
		t.Fatal("proto accepted garbage")
	}
	if err := (JSON{}).Unmarshal([]byte("{"), wrapperspb.String("")); err == nil {
		t.Fatal("json accepted garbage")
	}
}

type upper struct{ Raw }

func (upper) Name() string { return "upper" }

func TestRegister(t *testing.T) {
	Register(upper{})
	if Get("upper") == nil {
		t.Fatal("registered codec missing")
	}
	found := false
	for _, n := range Names() {
		found = found || n == "upper"
	}
	if !found {
		t.Fatal("Names misses upper")
	}
}
