package dora

import (
	"bytes"
	"errors"
	"maps"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/wirepb"
)

func TestAppendPkgMatchesProto(t *testing.T) {
	tests := []struct {
		name    string
		head    outHead
		payload []byte
		want    *wirepb.Pkg
	}{
		{
			name:    "unary request",
			head:    outHead{serializeType: "proto", seq: 7, method: "/a.B/C", timeoutUs: 1500, meta: metadata.MD{"token": "t"}},
			payload: []byte("payload"),
			want: &wirepb.Pkg{Head: &wirepb.Head{Version: 1, SerializeType: "proto", Seq: 7, Method: "/a.B/C",
				TimeoutUs: 1500, Meta: map[string]string{"token": "t"}}, Payload: []byte("payload")},
		},
		{
			name: "error response overrides user dora keys",
			head: outHead{serializeType: "json", status: 5, message: "no such user", meta: metadata.MD{"dora-status": "0", "x": "y"}},
			want: &wirepb.Pkg{Head: &wirepb.Head{Version: 1, SerializeType: "json",
				Meta: map[string]string{"dora-status": "5", "dora-message": "no such user", "x": "y"}}},
		},
		{
			name:    "stream message without head",
			head:    outHead{noHead: true},
			payload: []byte{1, 2, 3},
			want:    &wirepb.Pkg{Payload: []byte{1, 2, 3}},
		},
		{
			name: "trailer kind",
			head: outHead{kind: kindTrailer, status: 130},
			want: &wirepb.Pkg{Head: &wirepb.Head{Version: 1, Kind: wirepb.Kind_KIND_TRAILER, Meta: map[string]string{"dora-status": "130"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := appendPkg([]byte("prefix"), &tt.head, tt.payload)
			if !bytes.HasPrefix(b, []byte("prefix")) {
				t.Fatal("prefix lost")
			}
			b = b[len("prefix"):]
			got := new(wirepb.Pkg)
			if err := proto.Unmarshal(b, got); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			var p pkg
			if err := decodePkg(b, &p); err != nil {
				t.Fatal(err)
			}
			checkSame(t, &p, got)
		})
	}
}

func checkSame(t *testing.T, p *pkg, w *wirepb.Pkg) {
	t.Helper()
	h := w.GetHead()
	if p.version != h.GetVersion() || string(p.serializeType) != h.GetSerializeType() || p.seq != h.GetSeq() ||
		string(p.method) != h.GetMethod() || p.timeoutUs != h.GetTimeoutUs() || p.kind != int32(h.GetKind()) ||
		!bytes.Equal(p.payload, w.GetPayload()) || !maps.Equal(map[string]string(p.meta), h.GetMeta()) {
		t.Fatalf("decodePkg = %+v, proto.Unmarshal = %v", p, w)
	}
}

func TestDecodePkgErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"truncated tag", []byte{0x80}},
		{"head length past end", []byte{0x0a, 0x05, 0x08}},
		{"payload length huge", []byte{0x12, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"field number zero", []byte{0x00, 0x01}},
		{"method not utf8", []byte{0x0a, 0x03, 0x22, 0x01, 0xff}},
		{"meta key not utf8", []byte{0x0a, 0x05, 0x2a, 0x03, 0x0a, 0x01, 0xff}},
		// issue #14 row 19: an invalid value (or key) replaced by a later valid one in the
		// same entry; proto.Unmarshal rejects the first occurrence.
		{"overwritten meta value not utf8", []byte{0x0a, 0x0b, 0x2a, 0x09, 0x0a, 0x01, 'k', 0x12, 0x01, 0xff, 0x12, 0x01, 'v'}},
		{"overwritten meta key not utf8", []byte{0x0a, 0x0b, 0x2a, 0x09, 0x0a, 0x01, 0xff, 0x0a, 0x01, 'k', 0x12, 0x01, 'v'}},
		{"stray end group", []byte{0x0c}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p pkg
			err := decodePkg(tt.in, &p)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("decodePkg err = %v, want ErrMalformed", err)
			}
			if proto.Unmarshal(tt.in, new(wirepb.Pkg)) == nil {
				t.Fatal("proto.Unmarshal accepted it")
			}
		})
	}
}

func TestDecodePkgMergesHeads(t *testing.T) {
	a, _ := proto.Marshal(&wirepb.Pkg{Head: &wirepb.Head{Method: "Login", Meta: map[string]string{"a": "1"}}})
	b, _ := proto.Marshal(&wirepb.Pkg{Head: &wirepb.Head{Seq: 9, Meta: map[string]string{"b": "2"}}, Payload: []byte("x")})
	in := append(a, b...)
	want := new(wirepb.Pkg)
	if err := proto.Unmarshal(in, want); err != nil {
		t.Fatal(err)
	}
	var p pkg
	if err := decodePkg(in, &p); err != nil {
		t.Fatal(err)
	}
	checkSame(t, &p, want)
}

// FuzzPkgDecode checks that decodePkg never panics and agrees with proto.Unmarshal into the
// generated wirepb.Pkg on every input.
func FuzzPkgDecode(f *testing.F) {
	seeds := []*wirepb.Pkg{
		{Head: &wirepb.Head{Version: 1, SerializeType: "proto", Seq: 1, Method: "/dora.examples.echo.Echo/Say", TimeoutUs: 1000000}, Payload: []byte{0x0a, 0x02, 'h', 'i'}},
		{Head: &wirepb.Head{Method: "Login", Meta: map[string]string{"username": "ann", "token": "t"}}, Payload: []byte{0x0a, 0x03, 'a', 'n', 'n'}},
		{Head: &wirepb.Head{Version: 1, Meta: map[string]string{"dora-status": "5", "dora-message": "no"}}},
		{Head: &wirepb.Head{Kind: wirepb.Kind_KIND_TRAILER}},
	}
	for _, s := range seeds {
		b, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p pkg
		err := decodePkg(b, &p)
		want := new(wirepb.Pkg)
		werr := proto.Unmarshal(b, want)
		if (err == nil) != (werr == nil) {
			t.Fatalf("decodePkg err = %v, proto.Unmarshal err = %v", err, werr)
		}
		if err == nil {
			checkSame(t, &p, want)
		}
	})
}

func BenchmarkPkgEncodeDecode(b *testing.B) {
	payload := make([]byte, 1024)
	h := outHead{serializeType: "proto", seq: 1, method: "/dora.examples.echo.Echo/Say", timeoutUs: 1000}
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = appendPkg(buf[:0], &h, payload)
		var p pkg
		if err := decodePkg(buf, &p); err != nil {
			b.Fatal(err)
		}
	}
}
