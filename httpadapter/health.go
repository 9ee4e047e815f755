package httpadapter

import (
	"context"
	"net/http"
	"strconv"

	"github.com/seed857a6cbd/pocket/dora/health"
	"github.com/seed857a6cbd/pocket/dora/status"
)

// serveHealth answers the WithHealthCheck path: the backend's health, or SERVING without one.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) *httpError {
	st := health.HealthCheckResponse_SERVING
	if b := s.cfg.healthBackend; b != nil {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.callTimeout)
		defer cancel()
		var out health.HealthCheckResponse
		if err := b.Invoke(ctx, health.Health_Check_FullMethodName, &health.HealthCheckRequest{Service: s.cfg.healthService}, &out); err != nil {
			if r.Context().Err() != nil {
				return &httpError{StatusClientClosedRequest, CodeCanceled, "httpadapter: client went away", 0}
			}
			se := status.Convert(err)
			return &httpError{http.StatusServiceUnavailable, se.Code().String(), "httpadapter: health check: " + se.Message(), 0}
		}
		st = out.Status
	}
	code := http.StatusOK
	if st != health.HealthCheckResponse_SERVING {
		code = http.StatusServiceUnavailable
	}
	b := []byte(`{"status":"` + st.String() + `"}`) // enum names need no escaping
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
	return nil
}
