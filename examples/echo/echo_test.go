package echo_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/seed857a6cbd/pocket/examples/echo"
)

func TestHTTPHandler(t *testing.T) {
	h := echo.HTTPHandler()
	tests := []struct {
		name, method, path, body string
		status                   int
	}{
		{"echo", http.MethodPost, "/echo_benchmark", "hello", http.StatusOK},
		{"empty body", http.MethodPost, "/echo_benchmark", "", http.StatusOK},
		{"GET", http.MethodGet, "/echo_benchmark", "", http.StatusMethodNotAllowed},
		{"other path", http.MethodPost, "/echo", "x", http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body)))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if tc.status == http.StatusOK && !bytes.Equal(rec.Body.Bytes(), []byte(tc.body)) {
				t.Fatalf("body %q", rec.Body.String())
			}
		})
	}
}
