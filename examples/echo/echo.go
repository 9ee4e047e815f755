// Package echo holds the echo handlers of cmd/echo_server: IIP on /echo and
// /echo_benchmark, and net/http on POST /echo_benchmark for comparison (the
// endpoints iip's PF benchmarks target with -iipaddr and -naddr).
package echo

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/seed857a6cbd/pocket/iip"
)

// IIP paths and the HTTP path served.
const (
	Path          = "/echo"
	BenchmarkPath = "/echo_benchmark"
)

// MaxHTTPBody bounds the body the HTTP echo accepts: 64 MiB, as
// iip.DefaultMaxMessageSize.
const MaxHTTPBody = iip.DefaultMaxMessageSize

// Register adds the /echo and /echo_benchmark handlers to srv; both answer
// the request data unchanged.
func Register(srv *iip.Server) {
	srv.HandleFunc(Path, handle)
	srv.HandleFunc(BenchmarkPath, handle)
}

func handle(_ context.Context, req *iip.Request) ([]byte, error) {
	return req.Data, nil
}

// HTTPHandler answers POST /echo_benchmark with the request body
// (Content-Type application/octet-stream); a body over MaxHTTPBody gets
// 413, other methods and paths the mux's 405 and 404.
func HTTPHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+BenchmarkPath, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxHTTPBody))
		if err != nil {
			http.Error(w, fmt.Sprintf("echo: read body: %v", err), http.StatusRequestEntityTooLarge)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(body)
	})
	return mux
}
