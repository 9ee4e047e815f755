package httpadapter

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/examples/echo"
	"github.com/seed857a6cbd/pocket/lbclient"
)

const sayPath = "/dora.examples.echo.Echo/Say"

func TestDoraTranscoding(t *testing.T) {
	client := doraClient(t, startDora(t, false))
	_, ts := newAdapter(t,
		WithDora(client),
		WithDoraHeaders("X-User", "Dora-Status"),
		WithDoraResponseHeaders("x-echo"),
		WithCallTimeout(300*time.Millisecond),
	)
	jsonHdr := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name, method, path, body string
		hdr                      http.Header
		status                   int
		code                     string // error code; "" for success
		want                     map[string]string
	}{
		{"success with metadata", http.MethodPost, sayPath, `{"text":"hi","blob":"aGk="}`,
			http.Header{"Content-Type": {"application/json; charset=utf-8"}, "X-User": {"bob"}, "X-Secret": {"s3"}, "Dora-Status": {"5"}},
			http.StatusOK, "", map[string]string{"text": "hi|bob|", "blob": "aGk="}},
		{"empty body is the empty message", http.MethodPost, sayPath, "", nil, http.StatusOK, "", map[string]string{"text": "||"}},
		{"NotFound", http.MethodPost, sayPath, `{"text":"fail:NotFound"}`, jsonHdr, http.StatusNotFound, "NotFound", nil},
		{"InvalidArgument", http.MethodPost, sayPath, `{"text":"fail:InvalidArgument"}`, jsonHdr, http.StatusBadRequest, "InvalidArgument", nil},
		{"PermissionDenied", http.MethodPost, sayPath, `{"text":"fail:PermissionDenied"}`, jsonHdr, http.StatusForbidden, "PermissionDenied", nil},
		{"Unauthenticated", http.MethodPost, sayPath, `{"text":"fail:Unauthenticated"}`, jsonHdr, http.StatusUnauthorized, "Unauthenticated", nil},
		{"ResourceExhausted", http.MethodPost, sayPath, `{"text":"fail:ResourceExhausted"}`, jsonHdr, http.StatusTooManyRequests, "ResourceExhausted", nil},
		{"Internal", http.MethodPost, sayPath, `{"text":"fail:Internal"}`, jsonHdr, http.StatusInternalServerError, "Internal", nil},
		{"deadline", http.MethodPost, sayPath, `{"text":"slow"}`, jsonHdr, http.StatusGatewayTimeout, "DeadlineExceeded", nil},
		{"malformed JSON", http.MethodPost, sayPath, `{"text":`, jsonHdr, http.StatusBadRequest, "InvalidArgument", nil},
		{"unknown field", http.MethodPost, sayPath, `{"nope":1}`, jsonHdr, http.StatusBadRequest, "InvalidArgument", nil},
		{"unknown method", http.MethodPost, "/dora.examples.echo.Echo/Nope", `{}`, jsonHdr, http.StatusNotFound, "NotFound", nil},
		{"unknown service goes to the IIP routes", http.MethodPost, "/no.such.Service/Say", `{}`, jsonHdr, http.StatusNotFound, CodeNoRoute, nil},
		{"server streaming", http.MethodPost, "/dora.examples.echo.Echo/Count", `{}`, jsonHdr, http.StatusNotImplemented, "Unimplemented", nil},
		{"bidi streaming", http.MethodPost, "/dora.examples.echo.Echo/Chat", `{}`, jsonHdr, http.StatusNotImplemented, "Unimplemented", nil},
		{"GET", http.MethodGet, sayPath, "", nil, http.StatusMethodNotAllowed, CodeMethodNotAllowed, nil},
		{"not JSON", http.MethodPost, sayPath, "text=hi", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, http.StatusUnsupportedMediaType, CodeUnsupportedMedia, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body *strings.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			var r reply
			if body != nil {
				r = do(t, nil, tc.method, ts.URL+tc.path, "", body, tc.hdr)
			} else {
				r = do(t, nil, tc.method, ts.URL+tc.path, "", nil, tc.hdr)
			}
			if r.status != tc.status {
				t.Fatalf("status %d (%s), want %d", r.status, r.body, tc.status)
			}
			if tc.code != "" {
				if e := r.errBody(t); e.Code != tc.code || e.Message == "" {
					t.Fatalf("error %+v, want code %q", e, tc.code)
				}
				return
			}
			var got map[string]string
			if err := json.Unmarshal([]byte(r.body), &got); err != nil {
				t.Fatalf("body %q: %v", r.body, err)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q (body %s)", k, got[k], v, r.body)
				}
			}
			if r.header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
			}
			if r.header.Get("X-Echo") != "yes" || r.header.Get("X-Hidden") != "" {
				t.Errorf("response headers: X-Echo %q X-Hidden %q", r.header.Get("X-Echo"), r.header.Get("X-Hidden"))
			}
		})
	}
	if r := do(t, nil, http.MethodGet, ts.URL+sayPath, "", nil, nil); r.header.Get("Allow") != http.MethodPost {
		t.Errorf("405 without Allow: POST: %v", r.header)
	}
}

func TestDoraBackends(t *testing.T) {
	addr := startDora(t, false)
	group := doraClient(t, "lb:///"+addr+"#2,"+startDora(t, false))
	// a resolver holding only the echo file, and one holding nothing
	files := new(protoregistry.Files)
	if err := files.RegisterFile(echo.File_echo_proto); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		opts   []Option
		status int
		code   string
	}{
		{"balanced client", []Option{WithDora(group)}, http.StatusOK, ""},
		{"own resolver", []Option{WithDora(doraClient(t, addr)), WithDoraResolver(files)}, http.StatusOK, ""},
		{"prefix", []Option{WithDora(doraClient(t, addr)), WithDoraPrefix("/rpc/")}, http.StatusNotFound, CodeNoRoute},
		{"empty resolver", []Option{WithDora(doraClient(t, addr)), WithDoraResolver(new(protoregistry.Files))}, http.StatusNotFound, CodeNoRoute},
		{"service not served", []Option{WithDora(doraClient(t, startDora(t, true)))}, http.StatusNotImplemented, "Unimplemented"},
		{"server down", []Option{WithDora(doraClient(t, deadAddr(t)))}, http.StatusServiceUnavailable, "Unavailable"},
		{"balanced, all down", []Option{WithDora(doraClient(t, "lb:///"+deadAddr(t)))}, http.StatusServiceUnavailable, "Unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ts := newAdapter(t, tc.opts...)
			r := do(t, nil, http.MethodPost, ts.URL+sayPath, "", strings.NewReader(`{"text":"x"}`), nil)
			if r.status != tc.status {
				t.Fatalf("status %d (%s), want %d", r.status, r.body, tc.status)
			}
			if tc.code != "" {
				if e := r.errBody(t); e.Code != tc.code {
					t.Fatalf("error %+v, want %q", e, tc.code)
				}
			} else if got := sayText(t, r); got != "x||" {
				t.Fatalf("text %q (body %s)", got, r.body)
			}
		})
	}
	t.Run("hash key", func(t *testing.T) {
		a, b := startDora(t, false), startDora(t, false)
		hashed := doraClient(t, "lb:///"+a+","+b, dora.WithPicker(lbclient.PickHash))
		_, ts := newAdapter(t, WithDora(hashed), WithDoraHashKey(func(r *http.Request) string { return r.Header.Get("X-User") }))
		successes := func() []uint64 {
			var out []uint64
			for _, st := range hashed.BackendStats() {
				out = append(out, st.Successes)
			}
			return out
		}
		for _, user := range []string{"alice", "bob", "carol", "dave"} {
			before := successes()
			for i := 0; i < 4; i++ {
				r := do(t, nil, http.MethodPost, ts.URL+sayPath, "", strings.NewReader(`{"text":"x"}`), http.Header{"X-User": {user}})
				if r.status != http.StatusOK {
					t.Fatalf("%s: %d %s", user, r.status, r.body)
				}
			}
			after := successes()
			// one backend took all 4 calls (dora may count more than one success per call)
			if len(after) != 2 || !(after[0]-before[0] >= 4 && after[1] == before[1] || after[1]-before[1] >= 4 && after[0] == before[0]) {
				t.Errorf("%s: successes per backend went from %v to %v: the calls were split", user, before, after)
			}
		}
	})
	t.Run("every response header", func(t *testing.T) {
		_, ts := newAdapter(t, WithDora(doraClient(t, addr)), WithDoraResponseHeaders("*"))
		r := do(t, nil, http.MethodPost, ts.URL+sayPath, "", strings.NewReader(`{"text":"x"}`), nil)
		if r.status != http.StatusOK || r.header.Get("X-Echo") != "yes" || r.header.Get("X-Hidden") != "no" {
			t.Fatalf("got %d, X-Echo %q X-Hidden %q", r.status, r.header.Get("X-Echo"), r.header.Get("X-Hidden"))
		}
	})
	t.Run("prefix served", func(t *testing.T) {
		_, ts := newAdapter(t, WithDora(doraClient(t, addr)), WithDoraPrefix("/rpc/"))
		r := do(t, nil, http.MethodPost, ts.URL+"/rpc"+sayPath, "", strings.NewReader(`{"text":"x"}`), nil)
		if r.status != http.StatusOK {
			t.Fatalf("status %d (%s)", r.status, r.body)
		}
	})
	t.Run("dora and IIP side by side", func(t *testing.T) {
		iipAddr := startIIP(t, named("iip", sayPath, "/other"))
		_, ts := newAdapter(t, WithDora(doraClient(t, addr)), WithIIPRoute(Route{Backend: iipClient(t, iipAddr)}))
		if r := do(t, nil, http.MethodPost, ts.URL+sayPath, "", strings.NewReader(`{"text":"x"}`), nil); sayText(t, r) != "x||" {
			t.Errorf("known dora method went elsewhere: %d %s", r.status, r.body)
		}
		if r := do(t, nil, http.MethodGet, ts.URL+"/other", "", nil, nil); r.body != "iip" {
			t.Errorf("IIP path: %d %s", r.status, r.body)
		}
	})
}

// sayText decodes the text of a SayResponse body (protojson's spacing varies).
func sayText(t *testing.T, r reply) string {
	t.Helper()
	var out struct{ Text string }
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return out.Text
}

// TestDoraBinaryHeaders: a -bin request header is base64 on HTTP and bytes in dora metadata,
// one value per header line; -bin response metadata goes back as unpadded base64; a -bin
// header that is not base64 is a 400.
func TestDoraBinaryHeaders(t *testing.T) {
	_, ts := newAdapter(t, WithDora(doraClient(t, startDora(t, false))),
		WithDoraHeaders("X-Data-Bin"), WithDoraResponseHeaders("x-data-bin"))
	hdr := http.Header{"Content-Type": {"application/json"},
		"X-Data-Bin": {base64.StdEncoding.EncodeToString([]byte{0, 0xff, 1}), base64.RawStdEncoding.EncodeToString([]byte{0xfe, 2})}}
	r := do(t, nil, http.MethodPost, ts.URL+sayPath, "", strings.NewReader(`{"text":"hi"}`), hdr)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	want := []string{base64.RawStdEncoding.EncodeToString([]byte{1, 0xff, 0}), base64.RawStdEncoding.EncodeToString([]byte{2, 0xfe})}
	if got := r.header.Values("X-Data-Bin"); !slices.Equal(got, want) {
		t.Fatalf("X-Data-Bin back %q, want %q (each value reversed by the server, unpadded base64)", got, want)
	}
	hdr.Set("X-Data-Bin", "not base64!")
	r = do(t, nil, http.MethodPost, ts.URL+sayPath, "", strings.NewReader(`{"text":"hi"}`), hdr)
	if r.status != http.StatusBadRequest || r.errBody(t).Code != CodeBadRequest {
		t.Fatalf("non-base64 -bin header: %d %s, want 400 %s", r.status, r.body, CodeBadRequest)
	}
}
