package dora

import (
	"bytes"
	"errors"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
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
			head:    outHead{serializeType: "proto", seq: 7, method: "/a.B/C", timeoutUs: 1500, meta: metadata.Pairs("token", "t")},
			payload: []byte("payload"),
			want: &wirepb.Pkg{Head: &wirepb.Head{Version: 1, SerializeType: "proto", Seq: 7, Method: "/a.B/C",
				TimeoutUs: 1500, Meta: map[string]string{"token": "t"}}, Payload: []byte("payload")},
		},
		{
			name: "error response overrides user dora keys",
			head: outHead{serializeType: "json", status: 5, message: "no such user", meta: metadata.Pairs("dora-status", "0", "x", "y")},
			want: &wirepb.Pkg{Head: &wirepb.Head{Version: 1, SerializeType: "json",
				Meta: map[string]string{"dora-status": "5", "dora-message": "no such user", "x": "y"}}},
		},
		{
			name: "several values and bytes: first value in meta, all in entries",
			head: outHead{meta: metadata.Pairs("k", "a", "k", "b", "x-bin", "\xff\x00")},
			want: &wirepb.Pkg{Head: &wirepb.Head{Version: 1,
				Meta:    map[string]string{"k": "a", "x-bin": "/wA"},
				Entries: []*wirepb.MetadataEntry{{Key: "k", Value: []byte("a")}, {Key: "k", Value: []byte("b")}, {Key: "x-bin", Value: []byte{0xff, 0}}}}},
		},
		{
			name: "unary response header and trailer",
			head: outHead{status: 3, meta: metadata.Pairs("h", "1", "both", "h"), trailerMeta: metadata.Pairs("t", "2", "both", "t"), entries: true},
			want: &wirepb.Pkg{Head: &wirepb.Head{Version: 1,
				Meta: map[string]string{"h": "1", "t": "2", "both": "t", "dora-status": "3"},
				Entries: []*wirepb.MetadataEntry{{Key: "h", Value: []byte("1")}, {Key: "both", Value: []byte("h")},
					{Key: "t", Value: []byte("2"), Trailer: true}, {Key: "both", Value: []byte("t"), Trailer: true}}}},
		},
		{
			name: "legacy peer: meta only",
			head: outHead{legacy: true, meta: metadata.Pairs("k", "a", "k", "b"), entries: true},
			want: &wirepb.Pkg{Head: &wirepb.Head{Version: 1, Meta: map[string]string{"k": "a"}}},
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
			sortEntries(got)
			sortEntries(tt.want)
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
		!bytes.Equal(p.payload, w.GetPayload()) || !maps.Equal(firstValues(p.meta), h.GetMeta()) ||
		p.hasEntries != (len(h.GetEntries()) > 0) {
		t.Fatalf("decodePkg = %+v, proto.Unmarshal = %v", p, w)
	}
	want := [2]metadata.MD{}
	for _, e := range h.GetEntries() {
		if metadata.IsReserved(e.GetKey()) {
			continue // dora drops them: reserved keys live in meta only
		}
		i := 0
		if e.GetTrailer() {
			i = 1
		}
		if want[i] == nil {
			want[i] = metadata.MD{}
		}
		want[i][e.GetKey()] = append(want[i][e.GetKey()], string(e.GetValue()))
	}
	for i, got := range [2]metadata.MD{p.entries, p.trailer} {
		if !maps.EqualFunc(got, want[i], slices.Equal) {
			t.Fatalf("decodePkg entries %d = %v, want %v", i, got, want[i])
		}
	}
}

func firstValues(md metadata.MD) map[string]string {
	if md == nil {
		return nil
	}
	out := make(map[string]string, len(md))
	for k, vs := range md {
		out[k] = vs[0]
	}
	return out
}

// sortEntries orders Head.entries by trailer, key, then keeps each key's value order: the
// encoder writes keys in map order.
func sortEntries(p *wirepb.Pkg) {
	if p.GetHead() == nil {
		return
	}
	slices.SortStableFunc(p.Head.Entries, func(a, b *wirepb.MetadataEntry) int {
		if a.Trailer != b.Trailer {
			if a.Trailer {
				return 1
			}
			return -1
		}
		return strings.Compare(a.Key, b.Key)
	})
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
		{"entries key not utf8", []byte{0x0a, 0x05, 0x42, 0x03, 0x0a, 0x01, 0xff}},
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
		{Head: &wirepb.Head{Meta: map[string]string{"k": "a"}, Entries: []*wirepb.MetadataEntry{
			{Key: "k", Value: []byte("a")}, {Key: "k", Value: []byte("b")}, {Key: "k-bin", Value: []byte{0xff}, Trailer: true}}}},
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
		if werr == nil && errors.Is(err, errPlainValue) {
			return // dora's one rule above protobuf's
		}
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

// TestDecodeEntriesValues: a value that is not UTF-8 is refused unless its key ends in
// "-bin" (a rule of dora's, above protobuf's: the field is bytes), and reserved keys in
// Head.entries are dropped.
func TestDecodeEntriesValues(t *testing.T) {
	enc := func(e ...*wirepb.MetadataEntry) []byte {
		b, err := proto.Marshal(&wirepb.Pkg{Head: &wirepb.Head{Entries: e}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var p pkg
	if err := decodePkg(enc(&wirepb.MetadataEntry{Key: "k", Value: []byte{0xff}}), &p); !errors.Is(err, ErrMalformed) {
		t.Fatalf("non-UTF-8 value of a plain key: err = %v, want ErrMalformed", err)
	}
	b := enc(&wirepb.MetadataEntry{Key: "k-bin", Value: []byte{0xff}}, &wirepb.MetadataEntry{Key: "dora-status", Value: []byte("5")})
	if err := decodePkg(b, &p); err != nil {
		t.Fatal(err)
	}
	if !p.hasEntries || p.entries.Get("k-bin") != "\xff" || p.entries.Len() != 1 || p.meta != nil {
		t.Fatalf("decoded %+v", p)
	}
}

// A unary response without Head.entries (a previous-version server merges header and
// trailer in Head.meta) gives its user keys as both header and trailer, as before.
func TestHeaderTrailerFromPreviousServer(t *testing.T) {
	b, err := proto.Marshal(&wirepb.Pkg{Head: &wirepb.Head{Version: 1, Meta: map[string]string{"h": "1", "dora-status": "0"}}})
	if err != nil {
		t.Fatal(err)
	}
	var p pkg
	if err := decodePkg(b, &p); err != nil {
		t.Fatal(err)
	}
	hdr, trl := p.headerTrailer()
	if hdr.Get("h") != "1" || trl.Get("h") != "1" || hdr.Len() != 1 || trl.Len() != 1 {
		t.Fatalf("header %v, trailer %v", hdr, trl)
	}
}

// BenchmarkPkgMeta encodes and decodes a unary request head with metadata: one value per key
// (the common case, whose bytes Head.entries leaves unchanged) and several values per key.
func BenchmarkPkgMeta(b *testing.B) {
	for _, bc := range []struct {
		name string
		md   metadata.MD
	}{
		{"one-value", metadata.Pairs("token", "0123456789abcdef0123456789abcdef", "username", "ann")},
		{"several-values", metadata.Pairs("token", "0123456789abcdef0123456789abcdef", "username", "ann", "x-tag", "a", "x-tag", "b")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := outHead{serializeType: "proto", seq: 1, method: "/dora.examples.echo.Echo/Say", timeoutUs: 1000, meta: bc.md}
			payload := make([]byte, 64)
			buf := make([]byte, 0, 512)
			b.ReportAllocs()
			for b.Loop() {
				buf = appendPkg(buf[:0], &h, payload)
				var p pkg
				if err := decodePkg(buf, &p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDecodePkgMetadataBound: a 4 MiB Pkg of tiny metadata entries (in Head.meta and in
// Head.entries) is refused once its metadata passes MaxMetadataSize, and decoding it
// allocates about what that bound allows, not ten times the message.
func TestDecodePkgMetadataBound(t *testing.T) {
	const entries = 4 << 20 / 8
	entriesPkg := &wirepb.Pkg{Head: &wirepb.Head{}}
	metaPkg := &wirepb.Pkg{Head: &wirepb.Head{Meta: map[string]string{}}}
	for i := range entries {
		k := strconv.Itoa(i)
		entriesPkg.Head.Entries = append(entriesPkg.Head.Entries, &wirepb.MetadataEntry{Key: "k", Value: []byte("v")})
		metaPkg.Head.Meta[k] = "v"
	}
	for name, m := range map[string]*wirepb.Pkg{"entries": entriesPkg, "meta": metaPkg} {
		t.Run(name, func(t *testing.T) {
			b, err := proto.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			var p pkg
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			err = decodePkg(b, &p)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "metadata over") {
				t.Fatalf("Pkg of %d bytes with %d entries: err = %v, want metadata over MaxMetadataSize", len(b), entries, err)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d-byte Pkg: decoding allocated %.1f MiB before refusing it", len(b), float64(alloc)/(1<<20))
			if alloc > 8<<20 {
				t.Fatalf("decoding allocated %.1f MiB, want at most 8 MiB (MaxMetadataSize is %d)", float64(alloc)/(1<<20), MaxMetadataSize)
			}
		})
	}
	// Just under the bound decodes.
	var under wirepb.Head
	for range MaxMetadataSize/(2+metadataEntryOverhead) - 1 {
		under.Entries = append(under.Entries, &wirepb.MetadataEntry{Key: "k", Value: []byte("v")})
	}
	b, err := proto.Marshal(&wirepb.Pkg{Head: &under})
	if err != nil {
		t.Fatal(err)
	}
	var p pkg
	if err := decodePkg(b, &p); err != nil {
		t.Fatalf("metadata just under the bound: %v", err)
	}
}
