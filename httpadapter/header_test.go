package httpadapter

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	h := http.Header{"X-A": {"1"}, "X-B": {"2", "3"}, "Cookie": {"a=1", "b=2"}, "Empty": {""}}
	tests := []struct {
		format HeaderFormat
		want   http.Header
	}{
		{HeaderJoined, http.Header{"X-A": {"1"}, "X-B": {"2, 3"}, "Cookie": {"a=1; b=2"}, "Empty": {""}}},
		{HeaderMulti, h},
	}
	for _, tc := range tests {
		t.Run(tc.format.String(), func(t *testing.T) {
			q := url.Values{HeaderParam: {EncodeHeader(tc.format, "PATCH", h)}}
			method, got, err := DecodeHeader(q)
			if err != nil || method != "PATCH" || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("DecodeHeader = %q %v %v, want PATCH %v", method, got, err, tc.want)
			}
		})
	}
	if EncodeHeader(HeaderOff, "GET", h) != "" {
		t.Error("HeaderOff encoded something")
	}
	if m, h, err := DecodeHeader(url.Values{}); m != "" || h != nil || err != nil {
		t.Errorf("missing argument: %q %v %v", m, h, err)
	}
}

func TestDecodeHeaderErrors(t *testing.T) {
	tests := []struct{ name, value string }{
		{"not base64", "!!!"},
		{"not JSON", "bm90IGpzb24"},                                // "not json"
		{"not an object", "WzFd"},                                  // [1]
		{"number member", "eyJhIjoxfQ"},                            // {"a":1}
		{"method with two values", "eyI6bWV0aG9kIjpbIkEiLCJCIl19"}, // {":method":["A","B"]}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := DecodeHeader(url.Values{HeaderParam: {tc.value}}); !errors.Is(err, ErrBadHeader) {
				t.Fatalf("DecodeHeader(%q) = %v, want ErrBadHeader", tc.value, err)
			}
		})
	}
}

func TestIIPPath(t *testing.T) {
	tests := []struct{ name, uri, hdr, want string }{
		{"plain", "/a", "", "/a"},
		{"plain with header", "/a", "eyJ9", "/a?__http_hdr__=eyJ9"},
		{"query kept", "/a?x=1&y=%20", "h==", "/a?x=1&y=%20&__http_hdr__=h%3D%3D"},
		{"bare question mark kept", "/a?", "", "/a?"},
		{"client header removed", "/a?__http_hdr__=evil&x=1", "", "/a?x=1"},
		{"escaped client header removed", "/a?x=1&%5F%5Fhttp_hdr%5F%5F=evil", "h", "/a?x=1&__http_hdr__=h"},
		{"only a client header", "/a?__http_hdr__=evil", "", "/a"},
		{"other names kept", "/a?__http_hdr__x=1", "", "/a?__http_hdr__x=1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := iipPath(tc.uri, tc.hdr); got != tc.want {
				t.Fatalf("iipPath(%q, %q) = %q, want %q", tc.uri, tc.hdr, got, tc.want)
			}
		})
	}
}

// FuzzDecodeHeader feeds arbitrary __http_hdr__ values: DecodeHeader never panics, fails
// only with ErrBadHeader, and what it accepts survives a multi-format round trip.
func FuzzDecodeHeader(f *testing.F) {
	f.Add(EncodeHeader(HeaderJoined, "GET", http.Header{"X-A": {"1", "2"}}))
	f.Add(EncodeHeader(HeaderMulti, "POST", http.Header{"X-A": {"1", "2"}}))
	f.Add("e30")
	f.Add("!!")
	f.Fuzz(func(t *testing.T, v string) {
		method, h, err := DecodeHeader(url.Values{HeaderParam: {v}})
		if err != nil {
			if !errors.Is(err, ErrBadHeader) {
				t.Fatalf("error %v does not wrap ErrBadHeader", err)
			}
			return
		}
		if v == "" {
			return
		}
		m2, h2, err := DecodeHeader(url.Values{HeaderParam: {EncodeHeader(HeaderMulti, method, h)}})
		if err != nil || m2 != method || len(h2) != len(h) {
			t.Fatalf("round trip of %q: %q %v %v", v, m2, h2, err)
		}
	})
}

func TestHeaderJSONEscaping(t *testing.T) {
	vals := []string{`quote " and \ backslash`, "tab\tnl\ncr\r", "ctl \x01\x1f", "ünïcødé ✓", "bad \xff byte", "<html>&"}
	for _, v := range vals {
		for _, f := range []HeaderFormat{HeaderJoined, HeaderMulti} {
			js := appendHeaderJSON(nil, f, "GET", http.Header{"X-V": {v}}, nil, nil)
			want, _ := json.Marshal(v) // encoding/json's view of the string
			var wantStr string
			_ = json.Unmarshal(want, &wantStr)
			method, h, err := DecodeHeader(url.Values{HeaderParam: {base64.URLEncoding.EncodeToString(js)}})
			if err != nil || method != "GET" || h.Get("X-V") != wantStr {
				t.Errorf("%s %q: JSON %s decodes to %q %q %v", f, v, js, method, h.Get("X-V"), err)
			}
		}
	}
}

func TestHeaderArgEscaping(t *testing.T) {
	for n := 0; n < 4; n++ { // every padding length
		js := []byte(strings.Repeat("a", n+1))
		p := string(appendHeaderArg([]byte("/p"), false, js))
		u, err := url.Parse(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.Query().Get(HeaderParam); got != base64.URLEncoding.EncodeToString(js) {
			t.Errorf("%q: query value %q", p, got)
		}
	}
}

// FuzzBasePath feeds arbitrary request URIs: basePath never panics and never lets a
// client-supplied __http_hdr__ argument through, in any escaping.
func FuzzBasePath(f *testing.F) {
	f.Add("/a?x=1")
	f.Add("/a?__http_hdr__=evil&x=1")
	f.Add("/a?%5F%5Fhttp_hdr%5F%5F=evil")
	f.Add("/a?&&__http_hdr__&")
	f.Fuzz(func(t *testing.T, uri string) {
		base, hasQuery := basePath(uri)
		_, query, ok := strings.Cut(base, "?")
		if hasQuery && (!ok || query == "") {
			t.Fatalf("basePath(%q) = %q claims a query", uri, base)
		}
		for _, part := range strings.Split(query, "&") {
			k, _, _ := strings.Cut(part, "=")
			if uk, err := url.QueryUnescape(k); k == HeaderParam || err == nil && uk == HeaderParam {
				t.Fatalf("basePath(%q) = %q keeps %s", uri, base, HeaderParam)
			}
		}
	})
}
