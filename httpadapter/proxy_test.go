package httpadapter

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/iip"
	"github.com/seed857a6cbd/pocket/lbclient"
)

// named returns handlers answering name on each path.
func named(name string, paths ...string) map[string]iip.HandlerFunc {
	m := make(map[string]iip.HandlerFunc, len(paths))
	for _, p := range paths {
		m[p] = func(context.Context, *iip.Request) ([]byte, error) { return []byte(name), nil }
	}
	return m
}

func TestRouting(t *testing.T) {
	paths := []string{"/a/x", "/b/x", "/c", "/who"}
	backend := func(name string) IIPBackend { return iipClient(t, startIIP(t, named(name, paths...))) }
	hostA, wild, b, c, fn, match := backend("hostA"), backend("wild"), backend("B"), backend("C"), backend("func"), backend("match")
	_, ts := newAdapter(t,
		WithIIPRoute(Route{Host: "api.test", Backend: hostA}),
		WithIIPRoute(Route{Host: "*.wild.test", Backend: wild}),
		WithIIPRoute(Route{Pattern: `^/b/`, Backend: b}),
		WithIIPRoute(Route{Pattern: `^/(a|b)/`, Backend: c}),
		WithIIPRoute(Route{Pattern: `^/who$`, Match: func(r *http.Request) bool { return r.Header.Get("X-Match") == "1" }, Backend: match}),
		WithRouteFunc(func(r *http.Request) *Route {
			if r.Header.Get("X-Route") == "func" {
				return &Route{Name: "hook", Backend: fn}
			}
			return nil
		}),
	)
	tests := []struct {
		name, host, uri string
		hdr             http.Header
		want            string // backend name, or "" for 404 no_route
	}{
		{"host route wins over regex", "api.test", "/b/x", nil, "hostA"},
		{"host is case-insensitive without port", "API.Test:8080", "/c", nil, "hostA"},
		{"wildcard host", "x.wild.test", "/c", nil, "wild"},
		{"wildcard excludes the bare domain", "wild.test", "/c", nil, ""},
		{"first matching regex", "", "/b/x", nil, "B"},
		{"second regex", "", "/a/x", nil, "C"},
		{"regex sees the query", "", "/a/x?q=1", nil, "C"},
		{"no route", "", "/c", nil, ""},
		{"match func holds", "", "/who", http.Header{"X-Match": {"1"}}, "match"},
		{"match func fails", "", "/who", nil, ""},
		{"route func first", "api.test", "/b/x", http.Header{"X-Route": {"func"}}, "func"},
		{"route func falls through", "", "/b/x", http.Header{"X-Route": {"other"}}, "B"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, nil, http.MethodGet, ts.URL+tc.uri, tc.host, nil, tc.hdr)
			if tc.want == "" {
				if r.status != http.StatusNotFound || r.errBody(t).Code != CodeNoRoute {
					t.Fatalf("got %d %s, want 404 no_route", r.status, r.body)
				}
				return
			}
			if r.status != http.StatusOK || r.body != tc.want {
				t.Fatalf("got %d %q, want 200 %q", r.status, r.body, tc.want)
			}
		})
	}
}

// headerEcho answers, as JSON, what the IIP server saw: raw path, decoded method and headers.
type headerEcho struct {
	RawPath string              `json:"raw_path"`
	Method  string              `json:"method"`
	Header  map[string][]string `json:"header"`
	Raw     string              `json:"raw"` // the __http_hdr__ JSON, base64url-decoded
}

func TestHeaderForwarding(t *testing.T) {
	addr := startIIP(t, map[string]iip.HandlerFunc{
		"/h": func(_ context.Context, r *iip.Request) ([]byte, error) {
			method, h, err := DecodeHeader(r.Query)
			if err != nil {
				return nil, err
			}
			e := headerEcho{RawPath: r.RawPath, Method: method, Header: h}
			if v := r.Query.Get(HeaderParam); v != "" {
				raw, err := base64.URLEncoding.DecodeString(v) // padded base64url, as documented
				if err != nil {
					return nil, err
				}
				e.Raw = string(raw)
			}
			return json.Marshal(e)
		},
	})
	client := iipClient(t, addr)
	hdr := http.Header{"X-Multi": {"a", "b"}, "Cookie": {"k=v", "k2=v2"}, "X-Forwarded-For": {"10.1.2.3"}, "Connection": {"X-Multi"}}
	tests := []struct {
		name   string
		format HeaderFormat
		check  func(t *testing.T, e headerEcho)
	}{
		{"joined", HeaderJoined, func(t *testing.T, e headerEcho) {
			var m map[string]string
			if err := json.Unmarshal([]byte(e.Raw), &m); err != nil {
				t.Fatalf("joined __http_hdr__ %q is not a JSON object of strings: %v", e.Raw, err)
			}
			want := map[string]string{":method": "PUT", "X-Multi": "a, b", "Cookie": "k=v; k2=v2", "Host": "front.test",
				"X-Forwarded-For": "10.1.2.3, 127.0.0.1", "X-Forwarded-Proto": "http", "Content-Type": "text/plain"}
			for k, v := range want {
				if m[k] != v {
					t.Errorf("%s = %q, want %q (all: %v)", k, m[k], v, m)
				}
			}
			if _, ok := m["Connection"]; ok {
				t.Errorf("hop-by-hop Connection forwarded: %v", m)
			}
		}},
		{"multi", HeaderMulti, func(t *testing.T, e headerEcho) {
			var m map[string][]string
			if err := json.Unmarshal([]byte(e.Raw), &m); err != nil {
				t.Fatalf("multi __http_hdr__ %q is not a JSON object of arrays: %v", e.Raw, err)
			}
			if got := strings.Join(m["X-Multi"], "|"); got != "a|b" {
				t.Errorf("X-Multi = %q, want a|b", got)
			}
			if got := strings.Join(m[":method"], "|"); got != "PUT" {
				t.Errorf(":method = %q", got)
			}
			if e.Method != "PUT" || strings.Join(e.Header["X-Multi"], "|") != "a|b" {
				t.Errorf("DecodeHeader: method %q header %v", e.Method, e.Header)
			}
		}},
		{"off", HeaderOff, func(t *testing.T, e headerEcho) {
			if e.Raw != "" || e.RawPath != "/h?q=1" {
				t.Errorf("format off: raw path %q, header %q", e.RawPath, e.Raw)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ts := newAdapter(t, WithHeaderFormat(tc.format), WithIIPRoute(Route{Backend: client}))
			h := hdr.Clone()
			h.Set("Content-Type", "text/plain")
			// a client-supplied __http_hdr__ must not reach the backend
			spoof := url.QueryEscape(base64.URLEncoding.EncodeToString([]byte(`{":method":"DELETE"}`)))
			r := do(t, nil, http.MethodPut, ts.URL+"/h?q=1&"+HeaderParam+"="+spoof, "front.test", strings.NewReader("x"), h)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var e headerEcho
			if err := json.Unmarshal([]byte(r.body), &e); err != nil {
				t.Fatal(err)
			}
			if strings.Count(e.RawPath, HeaderParam) > 1 || strings.Contains(e.Raw, "DELETE") {
				t.Fatalf("spoofed %s reached the backend: %s", HeaderParam, e.RawPath)
			}
			if tc.format != HeaderOff && !strings.HasPrefix(e.RawPath, "/h?q=1&"+HeaderParam+"=") {
				t.Errorf("raw path %q does not keep the query and append %s", e.RawPath, HeaderParam)
			}
			tc.check(t, e)
		})
	}
}

func TestBodyAndContentType(t *testing.T) {
	addr := startIIP(t, map[string]iip.HandlerFunc{
		"/echo": func(_ context.Context, r *iip.Request) ([]byte, error) { return r.Data, nil },
	})
	client := iipClient(t, addr)
	_, ts := newAdapter(t,
		WithIIPRoute(Route{Pattern: `^/echo\?typed`, Backend: client, ContentType: "application/x-custom"}),
		WithIIPRoute(Route{Backend: client}),
	)
	tests := []struct {
		name, method, uri, body string
		wantBody, wantCT        string
	}{
		{"empty body becomes {}", http.MethodGet, "/echo", "", "{}", "application/json"},
		{"empty POST becomes {}", http.MethodPost, "/echo", "", "{}", "application/json"},
		{"JSON sniffed", http.MethodPost, "/echo", `[1,2]`, `[1,2]`, "application/json"},
		{"text sniffed", http.MethodPost, "/echo", "hello", "hello", "text/plain; charset=utf-8"},
		{"route content type", http.MethodPost, "/echo?typed", "hello", "hello", "application/x-custom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			r := do(t, nil, tc.method, ts.URL+tc.uri, "", body, nil)
			if r.status != http.StatusOK || r.body != tc.wantBody || r.header.Get("Content-Type") != tc.wantCT {
				t.Fatalf("got %d %q %q, want 200 %q %q", r.status, r.body, r.header.Get("Content-Type"), tc.wantBody, tc.wantCT)
			}
		})
	}
}

func TestIIPErrors(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	addr := startIIP(t, map[string]iip.HandlerFunc{
		"/ok":     func(_ context.Context, r *iip.Request) ([]byte, error) { return r.Data, nil },
		"/fail":   func(context.Context, *iip.Request) ([]byte, error) { return nil, errors.New("database on fire") },
		"/panic":  func(context.Context, *iip.Request) ([]byte, error) { panic("boom") },
		"/srvtmo": func(context.Context, *iip.Request) ([]byte, error) { return nil, iip.ErrTimeout },
		"/busy":   func(context.Context, *iip.Request) ([]byte, error) { return nil, iip.ErrServerConnLimit },
		"/odd":    func(context.Context, *iip.Request) ([]byte, error) { return nil, iip.ErrUnknown },
		"/slow": func(ctx context.Context, _ *iip.Request) ([]byte, error) {
			select {
			case <-ctx.Done():
			case <-release:
			}
			return []byte("late"), nil
		},
	})
	live := iipClient(t, addr)
	down, err := iip.NewLoadBalanceClient(deadAddr(t), iip.WithLogger(quiet), iip.WithDialTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { down.Close() })
	_, ts := newAdapter(t,
		WithMaxBodyBytes(16),
		WithIIPRoute(Route{Pattern: `^/down`, Backend: down}),
		WithIIPRoute(Route{Pattern: `^/slow`, Backend: live, Timeout: 100 * time.Millisecond}),
		WithIIPRoute(Route{Pattern: `^/(ok|fail|panic|srvtmo|busy|odd|missing)`, Backend: live}),
	)
	tests := []struct {
		name, uri string
		body      io.Reader
		status    int
		code      string
		iipCode   int
	}{
		{"no route", "/nowhere", nil, http.StatusNotFound, CodeNoRoute, 0},
		{"no handler on the backend", "/missing", nil, http.StatusNotFound, CodeNotFound, iip.CodeNoHandler},
		{"backend down", "/down", nil, http.StatusBadGateway, CodeBackendUnavailable, 0},
		{"call timeout", "/slow", nil, http.StatusGatewayTimeout, CodeTimeout, 0},
		{"handler error", "/fail", nil, http.StatusInternalServerError, CodeHandlerError, iip.CodeHandler},
		{"handler panic", "/panic", nil, http.StatusInternalServerError, CodeHandlerError, iip.CodeHandler},
		{"server-side timeout", "/srvtmo", nil, http.StatusGatewayTimeout, CodeTimeout, iip.CodeTimeout},
		{"backend overloaded", "/busy", nil, http.StatusServiceUnavailable, CodeBackendOverloaded, iip.CodeServerConnLimit},
		{"other IIP error", "/odd", nil, http.StatusInternalServerError, CodeBackendError, iip.CodeUnknown},
		{"body over the limit", "/ok", strings.NewReader(strings.Repeat("x", 17)), http.StatusRequestEntityTooLarge, CodeBodyTooLarge, 0},
		{"chunked body over the limit", "/ok", io.MultiReader(strings.NewReader(strings.Repeat("x", 17))), http.StatusRequestEntityTooLarge, CodeBodyTooLarge, 0},
		{"URI over the IIP path limit", "/ok?" + strings.Repeat("q", iip.MaxPathLen), nil, http.StatusRequestURITooLong, CodeURITooLong, 0},
		{"headers push the path over the limit", "/ok?" + strings.Repeat("q", iip.MaxPathLen-200), nil, http.StatusRequestHeaderFieldsTooLarge, CodeHeaderTooLarge, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := http.MethodGet
			if tc.body != nil {
				method = http.MethodPost
			}
			r := do(t, nil, method, ts.URL+tc.uri, "", tc.body, nil)
			if r.status != tc.status {
				t.Fatalf("status %d (%s), want %d", r.status, r.body, tc.status)
			}
			e := r.errBody(t)
			if e.Code != tc.code || e.IIPCode != tc.iipCode || e.Message == "" {
				t.Fatalf("error %+v, want code %q iip_code %d and a message", e, tc.code, tc.iipCode)
			}
		})
	}
	t.Run("limit exactly", func(t *testing.T) {
		r := do(t, nil, http.MethodPost, ts.URL+"/ok", "", strings.NewReader(strings.Repeat("x", 16)), nil)
		if r.status != http.StatusOK || len(r.body) != 16 {
			t.Fatalf("got %d %q", r.status, r.body)
		}
	})
}

func TestIIPBalanced(t *testing.T) {
	a := startIIP(t, named("a", "/who"))
	b := startIIP(t, named("b", "/who"))
	g, err := iip.NewLoadBalanceClient(a+","+b, iip.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	_, ts := newAdapter(t, WithIIPRoute(Route{Backend: g}))
	seen := map[string]int{}
	for i := 0; i < 20; i++ {
		r := do(t, nil, http.MethodGet, ts.URL+"/who", "", nil, nil)
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		seen[r.body]++
	}
	if len(seen) != 2 {
		t.Errorf("calls went to %v, want both backends", seen)
	}

	hashed, err := iip.NewLoadBalanceClient(a+","+b, iip.WithLogger(quiet), iip.WithPicker(lbclient.PickHash))
	if err != nil {
		t.Fatal(err)
	}
	defer hashed.Close()
	_, ts = newAdapter(t, WithIIPRoute(Route{Backend: hashed, HashKey: func(r *http.Request) string { return r.URL.Query().Get("user") }}))
	for _, user := range []string{"alice", "bob", "carol", "dave"} {
		first := ""
		for i := 0; i < 5; i++ {
			r := do(t, nil, http.MethodGet, ts.URL+"/who?user="+user, "", nil, nil)
			if first == "" {
				first = r.body
			}
			if r.status != http.StatusOK || r.body != first {
				t.Fatalf("user %s: call %d went to %d %q, first to %q", user, i, r.status, r.body, first)
			}
		}
	}
}

func TestIIPHeadersAllowList(t *testing.T) {
	addr := startIIP(t, map[string]iip.HandlerFunc{
		"/h": func(_ context.Context, r *iip.Request) ([]byte, error) {
			_, h, err := DecodeHeader(r.Query)
			if err != nil {
				return nil, err
			}
			keys := make([]string, 0, len(h))
			for k := range h {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			return []byte(strings.Join(keys, ",")), nil
		},
	})
	_, ts := newAdapter(t, WithIIPHeaders("x-keep"), WithIIPRoute(Route{Backend: iipClient(t, addr)}))
	hdr := http.Header{"X-Keep": {"1"}, "Cookie": {strings.Repeat("c", 3000)}}
	r := do(t, nil, http.MethodGet, ts.URL+"/h", "", nil, hdr)
	if r.status != http.StatusOK || r.body != "Host,X-Forwarded-For,X-Forwarded-Proto,X-Keep" {
		t.Fatalf("got %d %q", r.status, r.body)
	}
}
