package httpadapter

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/seed857a6cbd/pocket/httpadapter/internal/testkit"
)

// startDeployedBackend starts the test kit's model of a deployed IIP backend
// (internal/testkit/deployediip.go, from scripts/testkit/deployediip.go.tmpl:
// issue #15's facts 1-4, 6 and 7: 16 KiB socket buffers, a 3 s write
// deadline per frame, responses on the request path without its query,
// handler errors as {"code":-1,...}, unknown paths as 102, empty or
// panicking handlers as 101, /sys/delete_channel never answered, frames of
// at most 16 MiB) with these paths:
//
//	/headers  answers {"method":..., "x_test":[...]} from __http_hdr__, decoded
//	          as deployed backends decode it (base64url of JSON
//	          map[string][]string; another shape fails the handler)
//	/echo     answers the request data
//	/fail     handler error (-1)
//	/empty    handler returned nothing (101)
//	/panic    handler panicked (101)
//	else      unknown path (102 handle error)
func startDeployedBackend(t testing.TB) string {
	t.Helper()
	return testkit.StartDeployedIIP(t, testkit.DeployedIIPConfig{Handlers: map[string]testkit.DeployedIIPHandler{
		"/headers": func(r *testkit.DeployedIIPRequest) ([]byte, error) {
			h, err := testkit.DeployedIIPHeaders(r.Query)
			if err != nil {
				return nil, err
			}
			return json.Marshal(map[string]any{"method": h[":method"], "x_test": h["X-Test"]})
		},
		"/echo":  func(r *testkit.DeployedIIPRequest) ([]byte, error) { return r.Data, nil },
		"/fail":  func(*testkit.DeployedIIPRequest) ([]byte, error) { return nil, errors.New("db down") },
		"/empty": func(*testkit.DeployedIIPRequest) ([]byte, error) { return nil, nil },
		"/panic": func(*testkit.DeployedIIPRequest) ([]byte, error) { panic("boom") },
	}}).Addr()
}

// TestAdapterInFrontOfDeployedBackend: the adapter in front of a deployed
// IIP backend answers real statuses: every request carries __http_hdr__ in
// the query (the backend answers on the path without it), headers arrive
// in the array form the backend decodes, 1 MiB bodies pass both ways, a
// handler error is 500, an unknown path 404, never 200 with an error inside.
func TestAdapterInFrontOfDeployedBackend(t *testing.T) {
	addr := startDeployedBackend(t)
	client := iipClient(t, addr)
	_, ts := newAdapter(t, WithIIPRoute(Route{Backend: client}))
	hdr := http.Header{"X-Test": {"a", "b"}}

	r := do(t, nil, http.MethodGet, ts.URL+"/headers?x=1&y=%41", "", nil, hdr)
	if r.status != http.StatusOK {
		t.Fatalf("/headers: status %d: %s", r.status, r.body)
	}
	var got struct {
		Method []string `json:"method"`
		XTest  []string `json:"x_test"`
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || strings.Join(got.Method, ",") != "GET" || strings.Join(got.XTest, ",") != "a,b" {
		t.Fatalf("/headers: backend decoded %s (%v)", r.body, err)
	}

	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	r = do(t, nil, http.MethodPost, ts.URL+"/echo?n=1", "", bytes.NewReader(body), nil)
	if r.status != http.StatusOK || r.body != string(body) {
		t.Fatalf("/echo 1 MiB: status %d, %d bytes back", r.status, len(r.body))
	}

	cases := []struct {
		path   string
		status int
		code   string
	}{
		{"/fail?a=1", http.StatusInternalServerError, CodeHandlerError},
		{"/empty", http.StatusInternalServerError, CodeHandlerError},
		{"/panic", http.StatusInternalServerError, CodeHandlerError},
		{"/missing?q=x", http.StatusNotFound, CodeNotFound},
	}
	for _, tc := range cases {
		r := do(t, nil, http.MethodGet, ts.URL+tc.path, "", nil, nil)
		if r.status != tc.status {
			t.Fatalf("%s: status %d, want %d: %s", tc.path, r.status, tc.status, r.body)
		}
		if e := r.errBody(t); e.Code != tc.code {
			t.Fatalf("%s: code %q, want %q", tc.path, e.Code, tc.code)
		}
	}

	// The joined form (the former default) is what deployed backends cannot
	// decode: their handler fails, and the adapter says so with a 500.
	_, joined := newAdapter(t, WithHeaderFormat(HeaderJoined), WithIIPRoute(Route{Backend: client}))
	r = do(t, nil, http.MethodGet, joined.URL+"/headers", "", nil, hdr)
	if r.status != http.StatusInternalServerError || !strings.Contains(r.body, "bad header json") {
		t.Fatalf("joined headers: status %d: %s", r.status, r.body)
	}
}
